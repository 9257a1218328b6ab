"""`python -m enigma_apex` runs the same CLI as the `enigma-apex` console script."""

from enigma_apex.cli import main

if __name__ == "__main__":
    main()
