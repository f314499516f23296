"""The run seam every kind of run shares: the hashed config base (`config`), the registry of kinds (`kinds`),
the store of run folders (`store`: one `Run`, metrics I/O, teachers), the plan runner (`plan`) and restoring
a teacher's weights (`restore`). This package imports no kind: `bannb.image` and `bannb.lm` register themselves."""
