// model.cpp: (being written)
