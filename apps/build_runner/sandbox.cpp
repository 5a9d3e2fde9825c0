// sandbox.cpp: (being written)
