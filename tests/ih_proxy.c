/*  =========================================================================
    ih_proxy - fault-injecting TCP proxy for integration tests. See
    ih_proxy.h.

    One thread, one poll() loop. Each accepted connection is a pair of
    sockets (client side, target side) and two directions; a direction is a
    FIFO of chunks, each with the time it may be written. In pass mode that
    time is the moment it was read, in delay mode delay_ms later. A
    direction stops reading while it holds S_QUEUE_MAX bytes, so a slow
    reader pushes back on the writer through TCP as a real link would. An
    EOF or an error on either socket closes the whole pair: ZeroMQ never
    half-closes, and a lost tail is what a broken link looks like anyway.
    =========================================================================*/
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "ih_proxy.h"

#define S_MAX_CONNS 64
#define S_CHUNK 65536
#define S_QUEUE_MAX (1024 * 1024)

typedef struct _s_chunk_t {
    struct _s_chunk_t *next;
    int64_t due; //  monotonic ms at which it may be written
    size_t size;
    size_t offset; //  bytes already written
    uint8_t data[];
} s_chunk_t;

typedef struct {
    s_chunk_t *head, *tail;
    size_t queued;
} s_dir_t;

//  fd[0] is the client (accepted) side, fd[1] the target side; dir[s]
//  carries what was read from fd[s] to fd[1 - s].
typedef struct {
    int fd[2];
    s_dir_t dir[2];
    bool dead;
} s_conn_t;

struct _ih_proxy_t {
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t applied_cond; //  signalled when the loop takes a mode
    int wake[2];                 //  pipe: set_mode and destroy wake the loop
    int listener;
    int port;
    struct sockaddr_in target;
    //  Shared with the controlling thread, under mutex
    ih_proxy_mode_t mode;
    int delay_ms;
    bool stop;
    uint64_t accepted;
    uint64_t generation; //  bumped by every set_mode
    uint64_t applied;    //  the generation the loop runs with
    //  Owned by the proxy thread
    s_conn_t *conns[S_MAX_CONNS];
};

static int64_t
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_nonblocking (int fd)
{
    int flags = fcntl (fd, F_GETFL, 0);
    fcntl (fd, F_SETFL, flags | O_NONBLOCK);
}

static void
s_dir_clear (s_dir_t *dir)
{
    while (dir->head) {
        s_chunk_t *next = dir->head->next;
        free (dir->head);
        dir->head = next;
    }
    dir->tail = NULL;
    dir->queued = 0;
}

static void
s_conn_destroy (s_conn_t **conn_p)
{
    s_conn_t *conn = *conn_p;
    if (!conn)
        return;
    for (int s = 0; s < 2; s++) {
        if (conn->fd[s] >= 0)
            close (conn->fd[s]);
        s_dir_clear (&conn->dir[s]);
    }
    free (conn);
    *conn_p = NULL;
}

//  Accepts one connection; in drop mode (or when full, or when the target
//  refuses) closes it at once.
static void
s_accept (ih_proxy_t *self, ih_proxy_mode_t mode)
{
    int client = accept (self->listener, NULL, NULL);
    if (client < 0)
        return;
    pthread_mutex_lock (&self->mutex);
    self->accepted++;
    pthread_mutex_unlock (&self->mutex);
    int slot = -1;
    for (int i = 0; i < S_MAX_CONNS && slot < 0; i++)
        if (!self->conns[i])
            slot = i;
    if (mode == IH_PROXY_DROP || slot < 0) {
        close (client);
        return;
    }
    //  The target is local: a blocking connect is immediate.
    int target = socket (AF_INET, SOCK_STREAM, 0);
    if (target < 0 || connect (target, (struct sockaddr *) &self->target,
                               sizeof self->target) != 0) {
        if (target >= 0)
            close (target);
        close (client);
        return;
    }
    int one = 1;
    setsockopt (client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt (target, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s_nonblocking (client);
    s_nonblocking (target);
    s_conn_t *conn = (s_conn_t *) calloc (1, sizeof (s_conn_t));
    assert (conn);
    conn->fd[0] = client;
    conn->fd[1] = target;
    self->conns[slot] = conn;
}

//  Reads what fd[s] has into dir[s].
static void
s_read (s_conn_t *conn, int s, int64_t due)
{
    s_chunk_t *chunk = (s_chunk_t *) malloc (sizeof (s_chunk_t) + S_CHUNK);
    assert (chunk);
    ssize_t got = read (conn->fd[s], chunk->data, S_CHUNK);
    if (got <= 0) {
        free (chunk);
        if (got == 0 || (errno != EAGAIN && errno != EINTR))
            conn->dead = true;
        return;
    }
    chunk->next = NULL;
    chunk->due = due;
    chunk->size = (size_t) got;
    chunk->offset = 0;
    s_dir_t *dir = &conn->dir[s];
    if (dir->tail)
        dir->tail->next = chunk;
    else
        dir->head = chunk;
    dir->tail = chunk;
    dir->queued += (size_t) got;
}

//  Writes the due chunks of dir[1 - s] to fd[s].
static void
s_write (s_conn_t *conn, int s, int64_t now)
{
    s_dir_t *dir = &conn->dir[1 - s];
    while (dir->head && dir->head->due <= now) {
        s_chunk_t *chunk = dir->head;
        ssize_t put = write (conn->fd[s], chunk->data + chunk->offset,
                             chunk->size - chunk->offset);
        if (put < 0) {
            if (errno != EAGAIN && errno != EINTR)
                conn->dead = true;
            return;
        }
        chunk->offset += (size_t) put;
        dir->queued -= (size_t) put;
        if (chunk->offset < chunk->size)
            return; //  socket buffer full; POLLOUT will tell us
        dir->head = chunk->next;
        if (!dir->head)
            dir->tail = NULL;
        free (chunk);
    }
}

static void *
s_run (void *arg)
{
    ih_proxy_t *self = (ih_proxy_t *) arg;
    struct pollfd fds[2 + 2 * S_MAX_CONNS];
    s_conn_t *polled[2 + 2 * S_MAX_CONNS];
    int side[2 + 2 * S_MAX_CONNS];
    while (true) {
        pthread_mutex_lock (&self->mutex);
        ih_proxy_mode_t mode = self->mode;
        int delay = self->delay_ms;
        bool stop = self->stop;
        //  From here until the next turn every byte moves under this mode;
        //  set_mode waits for this so its effect is immediate.
        self->applied = self->generation;
        pthread_cond_broadcast (&self->applied_cond);
        pthread_mutex_unlock (&self->mutex);
        if (stop)
            break;
        int64_t now = s_now ();
        if (mode == IH_PROXY_DROP)
            for (int i = 0; i < S_MAX_CONNS; i++)
                s_conn_destroy (&self->conns[i]);

        //  What to wait for: readable sides whose queue has room, writable
        //  sides with a due chunk, and the earliest not-yet-due chunk.
        int nfds = 0;
        int timeout = -1;
        fds[nfds++] = (struct pollfd){self->wake[0], POLLIN, 0};
        fds[nfds++] = (struct pollfd){self->listener, POLLIN, 0};
        for (int i = 0; i < S_MAX_CONNS; i++) {
            s_conn_t *conn = self->conns[i];
            if (!conn)
                continue;
            for (int s = 0; s < 2; s++) {
                short events = 0;
                if (mode != IH_PROXY_STALL) {
                    if (conn->dir[s].queued < S_QUEUE_MAX)
                        events |= POLLIN;
                    s_chunk_t *next = conn->dir[1 - s].head;
                    if (next && next->due <= now)
                        events |= POLLOUT;
                    else if (next) {
                        int wait = (int) (next->due - now);
                        if (timeout < 0 || wait < timeout)
                            timeout = wait;
                    }
                }
                polled[nfds] = conn;
                side[nfds] = s;
                fds[nfds++] = (struct pollfd){conn->fd[s], events, 0};
            }
        }
        if (poll (fds, (nfds_t) nfds, timeout) < 0 && errno != EINTR)
            break;
        now = s_now ();
        if (fds[0].revents & POLLIN) {
            char drain[64];
            while (read (self->wake[0], drain, sizeof drain) > 0)
                ;
        }
        for (int i = 2; i < nfds; i++) {
            s_conn_t *conn = polled[i];
            short revents = fds[i].revents;
            if (conn->dead || !revents)
                continue;
            if (revents & (POLLERR | POLLNVAL))
                conn->dead = true;
            else {
                if (revents & (POLLIN | POLLHUP))
                    s_read (conn, side[i],
                            now + (mode == IH_PROXY_DELAY ? delay : 0));
                if (!conn->dead && (revents & POLLOUT))
                    s_write (conn, side[i], now);
            }
        }
        //  A chunk read just now in pass mode is due at once: write it
        //  without another trip through poll.
        for (int i = 0; i < S_MAX_CONNS; i++) {
            s_conn_t *conn = self->conns[i];
            if (conn && !conn->dead && mode != IH_PROXY_STALL)
                for (int s = 0; s < 2 && !conn->dead; s++)
                    s_write (conn, s, now);
            if (conn && conn->dead)
                s_conn_destroy (&self->conns[i]);
        }
        if (fds[1].revents & POLLIN)
            s_accept (self, mode);
    }
    for (int i = 0; i < S_MAX_CONNS; i++)
        s_conn_destroy (&self->conns[i]);
    return NULL;
}

ih_proxy_t *
ih_proxy_new (const char *host, int port)
{
    ih_proxy_t *self = (ih_proxy_t *) calloc (1, sizeof (ih_proxy_t));
    assert (self);
    self->listener = -1;
    self->wake[0] = self->wake[1] = -1;
    self->target.sin_family = AF_INET;
    self->target.sin_port = htons ((uint16_t) port);
    if (inet_pton (AF_INET, host, &self->target.sin_addr) != 1)
        goto failed;
    if (pipe (self->wake) != 0)
        goto failed;
    s_nonblocking (self->wake[0]);
    s_nonblocking (self->wake[1]);
    self->listener = socket (AF_INET, SOCK_STREAM, 0);
    if (self->listener < 0)
        goto failed;
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (bind (self->listener, (struct sockaddr *) &addr, sizeof addr) != 0 ||
        listen (self->listener, 64) != 0 ||
        getsockname (self->listener, (struct sockaddr *) &addr, &len) != 0)
        goto failed;
    s_nonblocking (self->listener);
    self->port = ntohs (addr.sin_port);
    self->mode = IH_PROXY_PASS;
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->applied_cond, NULL);
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        pthread_mutex_destroy (&self->mutex);
        pthread_cond_destroy (&self->applied_cond);
        goto failed;
    }
    return self;
failed:
    if (self->listener >= 0)
        close (self->listener);
    if (self->wake[0] >= 0) {
        close (self->wake[0]);
        close (self->wake[1]);
    }
    free (self);
    return NULL;
}

static void
s_wake (ih_proxy_t *self)
{
    //  The pipe is non-blocking: if it is full the loop is awake anyway.
    ssize_t rc = write (self->wake[1], "w", 1);
    (void) rc;
}

void
ih_proxy_destroy (ih_proxy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ih_proxy_t *self = *self_p;
    pthread_mutex_lock (&self->mutex);
    self->stop = true;
    pthread_mutex_unlock (&self->mutex);
    s_wake (self);
    pthread_join (self->thread, NULL);
    pthread_mutex_destroy (&self->mutex);
    pthread_cond_destroy (&self->applied_cond);
    close (self->listener);
    close (self->wake[0]);
    close (self->wake[1]);
    free (self);
    *self_p = NULL;
}

int
ih_proxy_port (ih_proxy_t *self)
{
    return self->port;
}

void
ih_proxy_set_mode (ih_proxy_t *self, ih_proxy_mode_t mode, int delay_ms)
{
    pthread_mutex_lock (&self->mutex);
    self->mode = mode;
    self->delay_ms = delay_ms < 0 ? 0 : delay_ms;
    uint64_t generation = ++self->generation;
    pthread_mutex_unlock (&self->mutex);
    s_wake (self);
    //  Wait until the loop has gone round with the new mode (it always
    //  does: the wake pipe ends its poll).
    pthread_mutex_lock (&self->mutex);
    while (self->applied < generation)
        pthread_cond_wait (&self->applied_cond, &self->mutex);
    pthread_mutex_unlock (&self->mutex);
}

uint64_t
ih_proxy_accepted (ih_proxy_t *self)
{
    pthread_mutex_lock (&self->mutex);
    uint64_t accepted = self->accepted;
    pthread_mutex_unlock (&self->mutex);
    return accepted;
}

const char *
ih_proxy_mode_name (ih_proxy_mode_t mode)
{
    return mode == IH_PROXY_PASS    ? "pass"
           : mode == IH_PROXY_STALL ? "stall"
           : mode == IH_PROXY_DROP  ? "drop"
                                    : "delay";
}

//  --------------------------------------------------------------------------
//  Selftest helpers: blocking sockets with poll() deadlines.

//  Reads exactly size bytes within timeout_ms; returns bytes read, 0 on
//  EOF, -1 on timeout or error.
static int
s_test_read (int fd, char *buffer, size_t size, int timeout_ms)
{
    size_t got = 0;
    int64_t deadline = s_now () + timeout_ms;
    while (got < size) {
        int64_t left = deadline - s_now ();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || poll (&pfd, 1, (int) left) <= 0)
            return -1;
        ssize_t rc = read (fd, buffer + got, size - got);
        if (rc == 0)
            return 0;
        if (rc < 0)
            return errno == ECONNRESET ? 0 : -1;
        got += (size_t) rc;
    }
    return (int) got;
}

static int
s_test_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = htons ((uint16_t) port);
    int rc = connect (fd, (struct sockaddr *) &addr, sizeof addr);
    assert (rc == 0);
    return fd;
}

static int
s_test_accept (int listener, int timeout_ms)
{
    struct pollfd pfd = {listener, POLLIN, 0};
    if (poll (&pfd, 1, timeout_ms) <= 0)
        return -1;
    return accept (listener, NULL, NULL);
}

void
ih_proxy_test (bool verbose)
{
    if (verbose)
        printf (" * ih_proxy: ");
    //  The "target": a listening socket the test serves by hand.
    int listener = socket (AF_INET, SOCK_STREAM, 0);
    assert (listener >= 0);
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int rc = bind (listener, (struct sockaddr *) &addr, sizeof addr);
    assert (rc == 0);
    rc = listen (listener, 8);
    assert (rc == 0);
    rc = getsockname (listener, (struct sockaddr *) &addr, &len);
    assert (rc == 0);

    ih_proxy_t *proxy = ih_proxy_new ("127.0.0.1", ntohs (addr.sin_port));
    assert (proxy);
    assert (ih_proxy_port (proxy) > 0);
    assert (!ih_proxy_new ("not-an-address", 1));

    //  Pass: both directions.
    int client = s_test_connect (ih_proxy_port (proxy));
    int server = s_test_accept (listener, 5000);
    assert (server >= 0);
    char buffer[16];
    rc = (int) write (client, "hello", 5);
    assert (rc == 5);
    rc = s_test_read (server, buffer, 5, 5000);
    assert (rc == 5 && memcmp (buffer, "hello", 5) == 0);
    rc = (int) write (server, "world", 5);
    assert (rc == 5);
    rc = s_test_read (client, buffer, 5, 5000);
    assert (rc == 5 && memcmp (buffer, "world", 5) == 0);

    //  Stall: nothing moves, the connection stays; pass releases it.
    ih_proxy_set_mode (proxy, IH_PROXY_STALL, 0);
    rc = (int) write (client, "stall", 5);
    assert (rc == 5);
    rc = s_test_read (server, buffer, 5, 300);
    assert (rc == -1);
    ih_proxy_set_mode (proxy, IH_PROXY_PASS, 0);
    rc = s_test_read (server, buffer, 5, 5000);
    assert (rc == 5 && memcmp (buffer, "stall", 5) == 0);

    //  Delay: a chunk arrives no sooner than delay_ms.
    ih_proxy_set_mode (proxy, IH_PROXY_DELAY, 250);
    int64_t start = s_now ();
    rc = (int) write (client, "delay", 5);
    assert (rc == 5);
    rc = s_test_read (server, buffer, 5, 5000);
    assert (rc == 5 && memcmp (buffer, "delay", 5) == 0);
    assert (s_now () - start >= 240);

    //  Drop: both ends see the connection close; a new one is closed too.
    ih_proxy_set_mode (proxy, IH_PROXY_DROP, 0);
    rc = s_test_read (client, buffer, 1, 5000);
    assert (rc == 0);
    rc = s_test_read (server, buffer, 1, 5000);
    assert (rc == 0);
    close (client);
    close (server);
    client = s_test_connect (ih_proxy_port (proxy));
    rc = s_test_read (client, buffer, 1, 5000);
    assert (rc == 0);
    close (client);

    //  Back to pass: new connections work again.
    ih_proxy_set_mode (proxy, IH_PROXY_PASS, 0);
    client = s_test_connect (ih_proxy_port (proxy));
    server = s_test_accept (listener, 5000);
    assert (server >= 0);
    rc = (int) write (client, "again", 5);
    assert (rc == 5);
    rc = s_test_read (server, buffer, 5, 5000);
    assert (rc == 5 && memcmp (buffer, "again", 5) == 0);
    assert (ih_proxy_accepted (proxy) == 3);
    close (client);
    close (server);

    ih_proxy_destroy (&proxy);
    ih_proxy_destroy (&proxy);
    close (listener);
    if (verbose)
        printf ("OK\n");
}
