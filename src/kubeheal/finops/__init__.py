"""Right-sizing and waste reports."""
