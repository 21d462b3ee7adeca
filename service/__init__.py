"""The composition root: settings -> stores -> the desk -> views -> followers (Services)."""
