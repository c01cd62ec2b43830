"""The experiments: the seed papers' tables at CPU scale, one script each, run from the repository root as
``python -m experiments.<script>`` (docs/architecture.md, "experiments/")."""
