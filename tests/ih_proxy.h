/*  =========================================================================
    ih_proxy - a fault-injecting TCP proxy for integration tests

    Sits on the wire between an agent and the hub (agent -> proxy -> hub
    ingest) inside the test process: a background thread accepts on
    127.0.0.1, port chosen by the kernel, and forwards every connection to
    a target host:port, byte for byte, with poll() on plain sockets. The
    test switches the mode at any time to simulate a bad network:

        IH_PROXY_PASS   forward as fast as possible
        IH_PROXY_STALL  keep the connections open but move no bytes (a
                        silent partition: only heartbeats can notice)
        IH_PROXY_DROP   close every current connection; new connections are
                        accepted and closed at once while in this mode
        IH_PROXY_DELAY  forward every chunk delay_ms after it was read

    The proxy knows nothing of ZeroMQ or of the incuhub wire format.
    =========================================================================*/
#ifndef IH_PROXY_H_INCLUDED
#define IH_PROXY_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    IH_PROXY_PASS,
    IH_PROXY_STALL,
    IH_PROXY_DROP,
    IH_PROXY_DELAY
} ih_proxy_mode_t;

typedef struct _ih_proxy_t ih_proxy_t;

//  Starts a proxy to host:port (host is a numeric IPv4 address, e.g.
//  "127.0.0.1") in pass mode. Returns NULL if it cannot listen.
ih_proxy_t *ih_proxy_new (const char *host, int port);

//  Stops the thread, closes every socket and frees; safe on NULL.
void ih_proxy_destroy (ih_proxy_t **self_p);

//  The port the proxy listens on (127.0.0.1).
int ih_proxy_port (ih_proxy_t *self);

//  Switches the mode; delay_ms is used by IH_PROXY_DELAY only. Returns once
//  the proxy thread runs with the new mode: no byte moves under the old one
//  after that.
void ih_proxy_set_mode (ih_proxy_t *self, ih_proxy_mode_t mode, int delay_ms);

//  Number of connections accepted so far (including refused ones).
uint64_t ih_proxy_accepted (ih_proxy_t *self);

//  Name of a mode, for log lines.
const char *ih_proxy_mode_name (ih_proxy_mode_t mode);

//  Selftest: an echo server behind the proxy, through every mode.
void ih_proxy_test (bool verbose);

#endif
