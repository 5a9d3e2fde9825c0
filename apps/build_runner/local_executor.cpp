// local_executor.cpp: (being written)
