"""sagewire's local stack: local AWS, local endpoints, a trainer on real data, and a demo."""
