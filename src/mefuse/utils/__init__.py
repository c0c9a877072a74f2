"""Small helpers shared by several sub-packages."""
