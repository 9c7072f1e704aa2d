"""End-to-end workflows (the demo, MD helpers)."""
