// cli.cpp: (being written)
