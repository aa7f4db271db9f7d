"""Core library: tasks, teachers, genome, students, KD losses, trainer, cost and proxies."""
