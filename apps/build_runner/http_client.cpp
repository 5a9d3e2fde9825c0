// http_client.cpp: (being written)
