"""Agent-based simulation of the anxious-avoidant pursue-withdraw cycle in couples."""

__version__ = "0.1.0"
