/*  =========================================================================
    ih_testkit - what the integration tests share

    Integration tests run the real binaries (incuhubd, incuhub-agent,
    incuhub) with posix_spawn in mkdtemp directories, on ipc:// or
    tcp://127.0.0.1:* endpoints whose real addresses they read back from the
    daemons' "ready" lines. They never sleep for synchronisation: every wait
    is for a condition, with a deadline, and a missed deadline fails the test
    with a message.
    =========================================================================*/
#ifndef IH_TESTKIT_H_INCLUDED
#define IH_TESTKIT_H_INCLUDED

#include <czmq.h>
#include "ih_err.h"
#include "ih_key.h"
#include "ih_event.h"
#include "ih_wire.h"
#include "ih_log.h"
#include "ih_registry.h"
#include "ih_regchange.h"
#include "ih_journal.h"
#include <jansson.h>

//  Fails the test (prints file:line and the message, exits 1) unless cond.
#define IH_CHECK(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf (stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__,  \
                     #cond);                                                   \
            fprintf (stderr, __VA_ARGS__);                                     \
            fprintf (stderr, "\n");                                            \
            ih_tk_fail ();                                                     \
        }                                                                      \
    } while (0)

//  Called by IH_CHECK: kills every child started by the kit, keeps the
//  temporary directories for post-mortem, exits 1.
void ih_tk_fail (void);

//  Creates a fresh temporary directory (removed by ih_tk_cleanup unless the
//  test failed). The string lives until ih_tk_cleanup.
const char *ih_tk_tempdir (void);
//  Kills remaining children and removes temporary directories.
void ih_tk_cleanup (void);
//  Removes a directory tree the test made (files and folders only).
void ih_tk_rmrf (const char *path);

//  The usual places in a test directory dir, written into the arrays
//  that are not NULL: data (dir/data) and registry (dir/registry.json),
//  512 bytes each; ingest and pub (ipc://dir/ingest.sock and
//  ipc://dir/pub.sock), 256 bytes each.
void ih_tk_paths (const char *dir, char *data, char *registry, char *ingest,
                  char *pub);

//  The whole content of the file at path, NUL-terminated (caller frees);
//  fails the test if it cannot be read.
char *ih_tk_slurp (const char *path);
//  Copies the file from to the file to; fails the test on error.
void ih_tk_copy (const char *from, const char *to);
//  A message of count frames, each one of the count text arguments
//  (without their NULs). Caller destroys.
zmsg_t *ih_tk_frames (int count, ...);

//  Path of a built binary: "incuhubd", "incuhub-agent" or "incuhub".
const char *ih_tk_bin (const char *name);

typedef struct _ih_proc_t ih_proc_t;

//  Starts a binary (by name, see ih_tk_bin) with NULL-terminated argv
//  (without argv[0]); stdout and stderr go to files in log_dir.
ih_proc_t *ih_proc_start (const char *log_dir, const char *name,
                          const char *const *args);
//  The same, with standard input read from the file input_path.
ih_proc_t *ih_proc_start_stdin (const char *log_dir, const char *name,
                                const char *const *args,
                                const char *input_path);
//  Waits until a stdout line starts with prefix; returns a copy of the
//  line (caller frees) or NULL at the deadline.
char *ih_proc_wait_line (ih_proc_t *self, const char *prefix, int timeout_ms);
//  Value of "key=" in a line, copied (caller frees), or NULL.
char *ih_tk_field (const char *line, const char *key);
//  Sends a signal.
void ih_proc_signal (ih_proc_t *self, int sig);
//  Waits for the process to exit; returns its exit status, 128+signal if
//  killed, or -1 at the deadline.
int ih_proc_wait_exit (ih_proc_t *self, int timeout_ms);
//  True while the process runs.
bool ih_proc_alive (ih_proc_t *self);
//  Path of the captured stdout.
const char *ih_proc_stdout (ih_proc_t *self);
const char *ih_proc_stderr (ih_proc_t *self);
//  SIGKILLs it if still running, reaps it, frees.
void ih_proc_destroy (ih_proc_t **self_p);

//  SIGKILLs proc, fails the test unless it died of it within 10 s, and
//  destroys it (what names it in the message).
void ih_tk_kill (ih_proc_t **proc_p, const char *what);
//  SIGTERMs proc, fails the test unless it exits 0 within 10 s, and
//  destroys it (what names it in the message).
void ih_tk_stop (ih_proc_t **proc_p, const char *what);

//  Runs a binary to completion with args and optional stdin text; returns
//  its exit status (or -1 at the deadline), its stdout in *out_p and its
//  stderr in *err_p (caller frees) where those are not NULL.
int ih_tk_run (const char *log_dir, const char *name, const char *const *args,
               const char *input, char **out_p, char **err_p, int timeout_ms);

//  Milliseconds on a monotonic clock.
int64_t ih_tk_now (void);

//  A site the test signs for itself (a hand-made agent): its key, registry
//  entry, and chain state.
typedef struct {
    ih_key_t *key;
    char site[IH_NAME_MAX + 1];
    char district[IH_NAME_MAX + 1];
    uint64_t seq;               //  last signed
    uint8_t prev[IH_HASH_SIZE]; //  hash of the last signed event
    int64_t clock_offset;       //  ms added to the event time (skew tests)
} ih_tk_site_t;

//  The registry of a test is a bureau journal (hub/ih_journal.h) at path
//  registry, signed by the kit's bureau key IH_TK_BUREAU, kept in the
//  journal's directory (NAME.key and NAME.pub). The kit creates that key
//  on first use and starts every new journal with
//  registry.permissions_changed events that let
//  the district, incubator, offshore and remote kinds publish any type
//  ("*"; read scopes stay the defaults), so reliability tests may use any
//  event type. Security tests change permissions explicitly.
#define IH_TK_BUREAU "qd-bureau"

//  The bureau key of registry (loaded, or created as above); caller
//  destroys.
ih_key_t *ih_tk_bureau (const char *registry);
//  Path of the bureau's public key file for registry (NAME.pub), for
//  --bureau-key. The string lives until ih_tk_cleanup.
const char *ih_tk_bureau_pub (const char *registry);
//  Appends change to registry, signed by the kit's bureau; returns the
//  signed event (caller frees) if bytes_p is not NULL.
void ih_tk_registry_change (const char *registry, const ih_regchange_t *change,
                            uint8_t **bytes_p, size_t *size_p);

//  Number of events in the journal registry (0 if missing): the hub
//  stores them all at start, so they take the log's first hub_seqs.
size_t ih_tk_journal_count (const char *registry);

//  The last event of the journal registry (malloc'ed copy); false if
//  the journal is empty or missing.
bool ih_tk_journal_last (const char *registry, uint8_t **bytes_p,
                         size_t *size_p);

//  Generates a key for site, saves it in dir, adds the site to registry
//  (a registry.site_added from the kit's bureau; registry may be NULL).
void ih_tk_site_init (ih_tk_site_t *self, const char *dir, const char *registry,
                      const char *site, const char *kind, const char *district);
//  Gives the site a fresh key, saved in dir as well (overwriting nothing:
//  dir must differ from the first key's), and registers the rotation
//  with from_seq = the site's next seq (self->seq + 1): later events are
//  signed with the new key.
void ih_tk_site_rotate (ih_tk_site_t *self, const char *dir,
                        const char *registry);
void ih_tk_site_fini (ih_tk_site_t *self);
//  Signs the next event of this site (seq + 1, chained) with a JSON payload
//  text; returns malloc'ed bytes.
uint8_t *ih_tk_site_sign (ih_tk_site_t *self, const char *type,
                          const char *json, size_t *size_p);

//  Starts incuhubd on data dir and registry (the journal; the kit's bureau
//  key is pinned with --bureau-key) with the given endpoints, in plain
//  text (--plaintext) unless extra holds "--curve" (which the kit removes:
//  the test then passes the hub's --key itself); waits for its ready line
//  and copies the resolved endpoints into ingest_out / pub_out (256 bytes
//  each; may be NULL).
ih_proc_t *ih_tk_hub_start (const char *dir, const char *data,
                            const char *registry, const char *ingest,
                            const char *pub, char *ingest_out, char *pub_out);
//  The same with extra daemon arguments (NULL-terminated; may be NULL).
ih_proc_t *ih_tk_hub_start_ex (const char *dir, const char *data,
                               const char *registry, const char *ingest,
                               const char *pub, const char *const *extra,
                               char *ingest_out, char *pub_out);

//  Starts incuhub-agent with args (NULL-terminated, without argv[0]) and
//  waits (20 s) for its ready line, failing the test without one. The
//  line is copied into *ready_p (caller frees) if ready_p is not NULL.
ih_proc_t *ih_tk_agent_start_args (const char *dir, const char *const *args,
                                   char **ready_p);
//  Starts incuhub-agent for site (its key dir/SITE.key, as
//  ih_tk_site_init saved it), forwarding to hub, on the outbox
//  dir/outbox-SITE and listening on ipc://dir/agent-SITE.sock (so a
//  restart of the site takes up its outbox again), with extra daemon
//  arguments (NULL-terminated; may be NULL); waits for its ready line and
//  copies the listen endpoint into listen_out (256 bytes; may be NULL).
ih_proc_t *ih_tk_agent_start (const char *dir, const char *site,
                              const char *hub, const char *const *extra,
                              char *listen_out);
//  Waits (polling STATUS) until the agent listening on endpoint reports
//  backlog 0; fails the test after timeout_ms.
void ih_tk_agent_drain (const char *endpoint, int timeout_ms);

//  STATUS of the hub or agent at endpoint as a JSON object (caller
//  decrefs); fails the test without a STATUS answer in 10 s.
json_t *ih_tk_status (const char *endpoint);
//  One integer field of the STATUS of endpoint (0 if missing).
json_int_t ih_tk_status_int (const char *endpoint, const char *field);

//  Runs `incuhub audit` on data with the kit bureau's key for registry;
//  returns its exit status, its stdout in *out_p and its stderr in *err_p
//  (caller frees) where those are not NULL.
int ih_tk_audit (const char *dir, const char *data, const char *registry,
                 char **out_p, char **err_p);

//  Builds event n (0-based, counted over one ih_tk_ingest call): signs it
//  for one of the test's sites and returns the malloc'ed signed bytes.
typedef uint8_t *(ih_tk_event_fn) (int n, size_t *size_p, void *arg);

//  Sends count events made by make straight to a hub's ingest endpoint,
//  keeping window of them in flight as an agent does, and waits for an
//  ACK for every one (failing the test on a NAK, or after timeout_ms
//  without an answer).
void ih_tk_ingest (const char *endpoint, int count, int window, int timeout_ms,
                   ih_tk_event_fn *make, void *arg);

//  Sends a request on a fresh DEALER to endpoint and waits for one reply
//  (decoded into *wire; the message is returned for the borrowed pointers;
//  caller destroys). NULL on timeout.
zmsg_t *ih_tk_request (const char *endpoint, zmsg_t **request_p,
                       ih_wire_t *wire, int timeout_ms);

//  Reads the log in data, opened read-only, from hub_seq 1 through fn;
//  fails the test if it cannot be opened or read.
void ih_tk_log_scan (const char *data, ih_log_fn *fn, void *arg);

//  Counts per site in a log opened read-only: checks that each site's
//  sequences appear exactly once, in order, from 1. Returns the number of
//  events, not counting the kit bureau's registry events (which are
//  checked but left out of the count and of site_counts); fails the test
//  on any violation. site_counts, if not NULL, gets
//  site -> count (as a zhashx of uint64_t values, caller destroys).
uint64_t ih_tk_log_check (const char *data, zhashx_t **site_counts_p);

#endif
