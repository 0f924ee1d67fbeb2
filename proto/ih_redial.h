/*  =========================================================================
    ih_redial - dial the hub again after a refused handshake

    libzmq 4.3 retries a connection that dropped, but never one whose
    handshake failed: a ZAP refusal (the key is not registered yet, or was
    revoked), a wrong server key and a mechanism mismatch are protocol
    errors to it, and it ends that connection for good. A client of the hub
    that must outlive a registry change (the agent's DEALER, ih_follow's
    SUB and DEALER) therefore watches its socket's handshakes with this
    module and, after a connection that closed before its handshake
    completed, disconnects and connects again itself, after a backoff:
    IH_REDIAL_MIN, doubling up to IH_REDIAL_MAX, back to none after a
    handshake that succeeds.

    The redialer owns the monitor (a zmonitor) and the timing; the caller
    owns the socket, polls the monitor with its other sockets, decides
    when to run a due redial and what to log (it alone knows who it is and
    what an operator can do about a refusal):

        ih_redial_t *redial = ih_redial_new (endpoint);
        if (ih_redial_dial (redial, sock))      //  instead of zsock_connect
            fail ();
        //  poll ih_redial_monitor (redial) too; wake at ih_redial_at
        while (zsock_events (zactor_sock (ih_redial_monitor (redial))) &
               ZMQ_POLLIN)
            if (ih_redial_recv (redial) == IH_REDIAL_FAILED &&
                ih_redial_may_log (redial))
                log (ih_redial_event_name (redial));
        if (ih_redial_due (redial))
            ih_redial_run (redial);
        ih_redial_destroy (&redial);            //  before the socket
        zsock_destroy (&sock);

    One thread uses a redialer and its socket.
    =========================================================================*/
#ifndef IH_REDIAL_H_INCLUDED
#define IH_REDIAL_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#define IH_REDIAL_MIN 1000        //  ms before the first redial
#define IH_REDIAL_MAX 30000       //  ms, cap of its doubling
#define IH_REDIAL_LOG_EVERY 10000 //  ms between two failure lines

//  What a monitor event meant.
typedef enum {
    IH_REDIAL_NONE = 0,     //  nothing (no message: interrupted)
    IH_REDIAL_CONNECTED,    //  TCP connected; the handshake is under way
    IH_REDIAL_DISCONNECTED, //  the connection closed
    IH_REDIAL_SUCCEEDED,    //  the handshake succeeded
    IH_REDIAL_FAILED        //  the handshake failed; ih_redial_event_name
                            //  says how
} ih_redial_event_t;

typedef struct _ih_redial_t ih_redial_t;

//  A redialer for endpoint (copied), watching no socket yet.
ih_redial_t *ih_redial_new (const char *endpoint);

//  Stops the monitor, frees, sets *self_p to NULL; safe to call twice.
//  Call it before closing the watched socket: a monitor must not outlive
//  its socket.
void ih_redial_destroy (ih_redial_t **self_p);

//  Starts watching sock (a socket not connected yet, so that no event is
//  missed) and connects it to the endpoint. On success the socket watched
//  before is watched no more (the caller may close it now) and a pending
//  redial is cancelled (this is a fresh dial); the backoff is kept until
//  a handshake succeeds. Returns 0, or -1 if zsock_connect fails
//  (zmq_errno says why); the socket watched before then stays watched.
int ih_redial_dial (ih_redial_t *self, zsock_t *sock);

//  The monitor to poll (readable when an event waits), or NULL before the
//  first dial. Borrowed; a successful ih_redial_dial replaces it.
zactor_t *ih_redial_monitor (ih_redial_t *self);

//  Reads one monitor event (blocks if none waits) and acts on it: a failed
//  handshake, or a connection that closed before its handshake succeeded,
//  schedules a redial after the backoff (doubled, IH_REDIAL_MIN first), if
//  none is pending; a handshake that succeeds cancels it and resets the
//  backoff. Returns what the event meant.
ih_redial_event_t ih_redial_recv (ih_redial_t *self);

//  libzmq's name of the last event read ("HANDSHAKE_FAILED_AUTH", ...),
//  or "" before any. A static string.
const char *ih_redial_event_name (ih_redial_t *self);

//  True from a failed handshake until one succeeds.
bool ih_redial_failing (ih_redial_t *self);

//  True, and notes the time, if a failure line may be logged now: at
//  most one every IH_REDIAL_LOG_EVERY ms.
bool ih_redial_may_log (ih_redial_t *self);

//  zclock_mono () time of the pending redial, or 0 if none is pending.
int64_t ih_redial_at (ih_redial_t *self);

//  The backoff of the pending (or last) redial, ms; 0 once a handshake
//  succeeded.
int64_t ih_redial_backoff (ih_redial_t *self);

//  True if a redial is pending and its time has come.
bool ih_redial_due (ih_redial_t *self);

//  Disconnects the watched socket from the endpoint and connects it again,
//  now; cancels the pending redial. What the socket had queued for the
//  old connection is dropped.
void ih_redial_run (ih_redial_t *self);

//  The endpoint. Borrowed.
const char *ih_redial_endpoint (ih_redial_t *self);

//  Selftest: a DEALER dials a CURVE server whose ZAP handler (zauth) first
//  knows no client key, then accepts any: the refusal schedules a redial
//  after IH_REDIAL_MIN, the redial gets through, a message goes both ways.
void ih_redial_test (bool verbose);

#endif
