"""Neural-network building blocks: radial bases, equivariant interactions, multipole heads."""
