#ifndef CLINUX_H
#define CLINUX_H
// Linux APIs the Glibc module does not export (as in swift-nio's CNIOLinux): the simulator's HTTP
// server waits on sockets with epoll and is woken with an eventfd.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/tcp.h>
#endif
