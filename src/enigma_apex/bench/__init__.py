"""Benchmarks behind `enigma-apex bench …`: they print measured figures, tests never time anything."""
