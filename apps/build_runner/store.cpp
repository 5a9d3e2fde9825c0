// store.cpp: (being written)
