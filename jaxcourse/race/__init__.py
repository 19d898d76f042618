"""The optimizer race: toy surfaces, all optimizers in one compiled program, its plots."""
