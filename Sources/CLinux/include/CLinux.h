#ifndef CLINUX_H
#define CLINUX_H
// Linux APIs the Glibc module does not export (as in swift-nio's CNIOLinux): the HTTP client's I/O thread
// and the simulator's HTTP server wait on sockets with epoll and are woken with an eventfd.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/tcp.h>
#endif
