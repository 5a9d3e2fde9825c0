// cgroup.cpp: (being written)
