// validate.cpp: (being written)
