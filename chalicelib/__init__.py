"""sagewire: inference front door, champion automation and lineage for Amazon SageMaker."""
