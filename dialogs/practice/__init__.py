"""The shared practice library: share, find, edit and withdraw records; the weekly digest."""
