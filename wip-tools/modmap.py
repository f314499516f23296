MODMAP = {
 "bannb.store": "bannb.runs.store", "bannb.plan": "bannb.runs.plan",
 "bannb.config": "bannb.image.config", "bannb.training": "bannb.image.training", "bannb.learner": "bannb.image.learner",
 "bannb.precision": "bannb.image.precision", "bannb.distributed": "bannb.image.distributed",
 "bannb.lm": "bannb.lm",
 **{f"bannb.{m}": f"bannb.study.{m}" for m in "profiles claims stats convergence generations paper experiments".split()},
 "bannb.report": "bannb.report", "bannb.book": "bannb.book", "bannb.timings": "bannb.book.timings",
 "bannb.bench": "bannb.bench.cpu", "bannb.bench_gpu": "bannb.bench.gpu", "bannb.runs": "bannb.runs",
}
# where each file lived before the move (for its relative imports)
OLDPATH = {
 "bannb/runs/store.py": "bannb.store", "bannb/runs/plan.py": "bannb.plan", "bannb/image/config.py": "bannb.config",
 "bannb/image/training.py": "bannb.training", "bannb/image/learner.py": "bannb.learner",
 "bannb/image/precision.py": "bannb.precision", "bannb/image/distributed.py": "bannb.distributed",
 "bannb/lm/training.py": "bannb.lm", **{f"bannb/study/{m}.py": f"bannb.{m}" for m in "profiles claims stats convergence generations paper experiments".split()},
 "bannb/report/figures.py": "bannb.report", "bannb/book/runner.py": "bannb.book", "bannb/book/timings.py": "bannb.timings",
 "bannb/bench/cpu.py": "bannb.bench", "bannb/bench/gpu.py": "bannb.bench_gpu",
}
