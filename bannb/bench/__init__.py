"""Speed on the machine at hand: a distillation step on the CPU in every precision (`cpu`, also
`python -m bannb.bench`) and the gpu profile's steps on a CUDA device (`gpu`, `python -m bannb.bench.gpu`)."""
