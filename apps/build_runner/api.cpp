// api.cpp: (being written)
