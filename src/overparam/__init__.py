"""overparam: reproducible replications of overparameterized-learning claims."""

__version__ = "0.1.0"
