// runner.cpp: (being written)
