/*  =========================================================================
    ih_benchkit - the machinery the benchmarks share, written once

    Where it sits: between the benchmark programs (bench/ih_bench_*.c) and
    the integration-test kit (tests/ih_testkit.h, which it builds on). A
    benchmark starts a real incuhubd on a data directory on the disk under
    test, drives it from in front like agents do, reads its STATUS, and
    reports medians of ratios across alternating runs; everything here is
    one of those steps. What is particular to one benchmark (subscribers
    that misbehave, crashes and restarts, replay clients) stays in it.

    The pieces:
      - options and set-up: decimal number parsing, a benchmark's command
        line from a table of its options (--NAME VALUE and --help), the
        default data root ($IH_BENCH_DIR or IH_BENCH_DATA, a directory
        under the build directory, never /tmp, which may be tmpfs where
        fsync is free), a fresh data root made with mkdtemp next to a
        temporary work directory (ih_benchkit_dirs_t), removed again with
        the testkit's ih_tk_rmrf;
      - the machine: CPU, kernel and the data filesystem's name, with a
        warning when it is a memory filesystem;
      - the hub (ih_benchkit_hub_t): incuhubd spawned on ipc:// endpoints
        in the work directory (or on endpoints given, e.g. tcp://), in
        plain text or with CURVE, its ready line, its STATUS, stop and kill;
      - the fleet (ih_benchkit_fleet_t): K sites, each with N events
        signed up front, before any timing;
      - the senders (ih_benchkit_senders_t): one thread per fleet site,
        each its own DEALER (a CURVE client as its site, if asked) with a
        window of events in flight, ACKs checked in order, all released
        together by a barrier once every DEALER has done a STATUS round
        trip; timed from the first send of any sender to the last ACK of
        any sender;
      - statistics: median (and max) of a set of values.

    Failures go through IH_CHECK (prints why, kills children, exits 1):
    a benchmark run is either entirely right or it fails. Nothing here
    asserts anything about timing.

    Threads: call zsys_init () in the main thread before creating senders
    (zsys_init is not thread-safe); everything else is for the main thread,
    except what the senders' threads do inside this module.
    =========================================================================*/
#ifndef IH_BENCHKIT_H_INCLUDED
#define IH_BENCHKIT_H_INCLUDED

#include "ih_testkit.h"

//  Exit status for a bad command line, as all benchmarks use it.
#define IH_BENCHKIT_EXIT_USAGE 2
//  Most sites a fleet (and so a senders set) may have.
#define IH_BENCHKIT_MAX_SITES 64

//  ---------------------------------------------------------------------
//  Options and set-up

//  Nanoseconds on a monotonic clock.
int64_t ih_benchkit_now_ns (void);

//  Parses a decimal int in [min, max] into *value_p. Returns 0, or -1
//  (and leaves *value_p alone) if text is not exactly such a number.
int ih_benchkit_parse_int (const char *text, int min, int max, int *value_p);
//  The same for a uint64_t.
int ih_benchkit_parse_u64 (const char *text, uint64_t min, uint64_t max,
                           uint64_t *value_p);

//  One --NAME VALUE option of a benchmark: an int in [min, max] (int_p),
//  a text taken as it is (text_p, e.g. --dir), or anything else parsed by
//  parse (returns 0, or -1 if text is not valid; given arg). Exactly one
//  of int_p, text_p and parse is set.
typedef struct {
    const char *name; //  without "--"; NULL ends a table
    int *int_p;
    int min, max;
    const char **text_p;
    int (*parse) (const char *text, void *arg);
    void *arg;
} ih_benchkit_option_t;

//  Table entries: an int option in [min, max], a text option, an option
//  parsed by fn, and the end of a table.
// clang-format off
#define IH_BENCHKIT_OPT_INT(name, int_p, min, max) \
    {(name), (int_p), (min), (max), NULL, NULL, NULL}
#define IH_BENCHKIT_OPT_TEXT(name, text_p) \
    {(name), NULL, 0, 0, (text_p), NULL, NULL}
#define IH_BENCHKIT_OPT_PARSE(name, fn, arg) \
    {(name), NULL, 0, 0, NULL, (fn), (arg)}
#define IH_BENCHKIT_OPT_END {NULL, NULL, 0, 0, NULL, NULL, NULL}
// clang-format on

//  A benchmark's command line.
typedef struct {
    const char *program;                 //  for messages: "ih_bench_..."
    void (*usage) (FILE *out);           //  prints the usage text
    const ih_benchkit_option_t *options; //  ended by a NULL name
    //  How a bad value is called after "PROGRAM: --NAME: 'VALUE' ";
    //  NULL: "is not a number in range"
    const char *invalid;
} ih_benchkit_cli_t;

//  Parses argv by cli (options by their long names, and --help or -h)
//  and fills in the values given. Does not return if the benchmark is not
//  to run: after --help it prints the usage on stdout and exits 0; on a
//  bad value (said so on stderr), an unknown option (getopt_long says so)
//  or a word that is no option, it prints the usage on stderr and exits
//  IH_BENCHKIT_EXIT_USAGE.
void ih_benchkit_parse_options (int argc, char *argv[],
                                const ih_benchkit_cli_t *cli);

//  The default root for data directories: $IH_BENCH_DIR if set and not
//  empty, else the compiled-in IH_BENCH_DATA. Borrowed.
const char *ih_benchkit_default_root (void);

//  Creates root if missing, then a fresh directory "root/prefix-XXXXXX"
//  in it, written into path (size bytes). Fails the run on error.
void ih_benchkit_make_data_root (const char *root, const char *prefix,
                                 char *path, size_t size);

//  Where a run keeps its files: work, a temporary directory for sockets,
//  keys, the registry and hub logs (ih_tk_tempdir: kept on failure), and
//  data_root, a fresh directory for data on the disk under test.
typedef struct {
    const char *work;     //  borrowed from ih_tk_tempdir
    char data_root[1024]; //  root/prefix-XXXXXX
    char registry[512];   //  work/registry_name
} ih_benchkit_dirs_t;

//  Makes the work directory and, with ih_benchkit_make_data_root, a data
//  root under root named after prefix; names the registry registry_name
//  in work (not created). Fails the run on error.
void ih_benchkit_dirs_make (ih_benchkit_dirs_t *self, const char *root,
                            const char *prefix, const char *registry_name);

//  At the end of a run that passed: removes the data root and cleans up
//  the testkit (the work directory with it).
void ih_benchkit_dirs_remove (ih_benchkit_dirs_t *self);

//  ---------------------------------------------------------------------
//  The machine

//  Name of the filesystem holding path, from statfs f_type ("ext2/3/4",
//  "tmpfs", ...; "f_type 0x..." if unknown). Borrowed; valid until the
//  next call.
const char *ih_benchkit_fs_name (const char *path);

//  "  WARNING: memory filesystem, fsync is free" for a memory filesystem
//  name as ih_benchkit_fs_name returns it, else "".
const char *ih_benchkit_fs_warning (const char *fs);

//  Prints two lines: "machine: nproc N, cpu MODEL, kernel SYS RELEASE"
//  and "data:    DIR (FS)" with the memory filesystem warning if any.
void ih_benchkit_print_machine (const char *data_root);

//  ---------------------------------------------------------------------
//  The hub

//  Asks the hub at endpoint for its STATUS and returns one integer field;
//  fails the run if there is no reply or no such field.
uint64_t ih_benchkit_status_field (const char *endpoint, const char *field);

typedef struct _ih_benchkit_hub_t ih_benchkit_hub_t;

//  Spawns incuhubd on data and registry, binding ingest and pub on
//  "ipc://work/ingest-TAG.sock" and "ipc://work/pub-TAG.sock" (without
//  "-TAG" if tag is NULL, so a restart can reuse the same endpoints), in
//  plain text (--plaintext).
//  extra is a NULL-terminated list of more daemon arguments, or NULL. Does
//  not wait for the hub to be ready. Stdout and stderr go to files in
//  work. Fails the run if it cannot spawn.
ih_benchkit_hub_t *ih_benchkit_hub_new (const char *work, const char *data,
                                        const char *registry, const char *tag,
                                        const char *const *extra);

//  How to start a hub, for ih_benchkit_hub_new_ex.
typedef struct {
    const char *tag;          //  as for ih_benchkit_hub_new; also in messages
    const char *endpoint;     //  ingest and pub both bind this (e.g.
                              //  "tcp://127.0.0.1:*"); NULL: ipc:// as above
    const char *curve_key;    //  the hub's key file: CURVE on ingest and pub
                              //  (--key, incuhubd's default); NULL: --plaintext
    const char *const *extra; //  as for ih_benchkit_hub_new
} ih_benchkit_hub_config_t;

//  ih_benchkit_hub_new with the choices of config.
ih_benchkit_hub_t *
ih_benchkit_hub_new_ex (const char *work, const char *data,
                        const char *registry,
                        const ih_benchkit_hub_config_t *config);

//  SIGKILLs the hub if it still runs, reaps it, frees; sets *self_p to
//  NULL; safe to call twice.
void ih_benchkit_hub_destroy (ih_benchkit_hub_t **self_p);

//  Waits up to timeout_ms for the hub's "incuhubd: ready" line and takes
//  its ingest= and pub= endpoints; fails the run otherwise.
void ih_benchkit_hub_wait_ready (ih_benchkit_hub_t *self, int timeout_ms);

//  True once the hub's stdout holds its complete ready line. Does not
//  wait: for callers that poll other sockets in between.
bool ih_benchkit_hub_ready_seen (ih_benchkit_hub_t *self);

//  The hub's ingest and pub endpoints: as its ready line gave them once
//  ih_benchkit_hub_wait_ready has returned, else as asked. Borrowed;
//  valid until destroy.
const char *ih_benchkit_hub_ingest (ih_benchkit_hub_t *self);
const char *ih_benchkit_hub_pub (ih_benchkit_hub_t *self);

//  The running process (for ih_proc_alive, ih_proc_stderr). Borrowed.
ih_proc_t *ih_benchkit_hub_proc (ih_benchkit_hub_t *self);

//  Monotonic nanoseconds taken just before the spawn.
int64_t ih_benchkit_hub_spawned_ns (ih_benchkit_hub_t *self);

//  Sends sig (SIGTERM for a clean stop, SIGKILL for a crash) and waits up
//  to timeout_ms for the exit. Returns the exit status (0 clean, 128+sig
//  if killed) or -1 at the deadline; the caller checks it.
int ih_benchkit_hub_stop (ih_benchkit_hub_t *self, int sig, int timeout_ms);

//  ---------------------------------------------------------------------
//  The fleet: sites with their events signed up front

typedef struct _ih_benchkit_fleet_t ih_benchkit_fleet_t;

//  Makes sites sites named "PREFIX-01", "PREFIX-02", ... (incubators in
//  district), each with a key in work and an entry in registry, and
//  signs events events per site, seq 1..events, of type
//  financing.round_closed. Fails the run on error.
ih_benchkit_fleet_t *ih_benchkit_fleet_new (const char *work,
                                            const char *registry,
                                            const char *prefix,
                                            const char *district, int sites,
                                            int events);
//  Frees the events and the sites' keys; sets *self_p to NULL; safe twice.
void ih_benchkit_fleet_destroy (ih_benchkit_fleet_t **self_p);

//  Sites, and events per site.
int ih_benchkit_fleet_sites (ih_benchkit_fleet_t *self);
int ih_benchkit_fleet_events (ih_benchkit_fleet_t *self);
//  Site index (0-based), e.g. to sign more. Borrowed.
ih_tk_site_t *ih_benchkit_fleet_site (ih_benchkit_fleet_t *self, int index);
//  Event n (0-based, seq n + 1) of site index and its size. Borrowed.
const uint8_t *ih_benchkit_fleet_event (ih_benchkit_fleet_t *self, int index,
                                        int n, size_t *size_p);

//  ---------------------------------------------------------------------
//  The senders: every fleet site streams all its events to one hub

typedef struct _ih_benchkit_senders_t ih_benchkit_senders_t;

//  Makes a DEALER with rcvtimeo timeout_ms, a CURVE client as own (a
//  site's key, with its transport secret) to the hub whose public key is
//  hub_key if hub_key is not NULL, else plain text. Does not connect.
//  NULL on failure.
zsock_t *ih_benchkit_dealer_new (ih_key_t *own, ih_key_t *hub_key,
                                 int timeout_ms);

//  Starts one thread per fleet site, each on its own DEALER to endpoint
//  with up to window events unacknowledged and reply_timeout_ms to wait
//  for any one reply, sending all the site's events. They start sending
//  together once every DEALER has had a STATUS reply. fleet must outlive
//  the senders.
ih_benchkit_senders_t *ih_benchkit_senders_new (const char *endpoint,
                                                ih_benchkit_fleet_t *fleet,
                                                int window,
                                                int reply_timeout_ms);

//  How senders send, for ih_benchkit_senders_new_ex.
typedef struct {
    int window;           //  events unacknowledged, per site
    int reply_timeout_ms; //  for any one reply
    int first; //  each site sends its events first .. first + count - 1
    int count; //  (0-based: seq first + 1 ..); count 0: all from first
    //  The hub's public key: each DEALER is a CURVE client as its site,
    //  and the STATUS before the start must be refused (NAK IH_E_DENIED,
    //  which a CURVE hub answers only to an authenticated incubator).
    //  NULL: plain text, and the STATUS must be answered.
    ih_key_t *hub_key;
} ih_benchkit_send_config_t;

//  ih_benchkit_senders_new with the choices of config: e.g. the next
//  count events of every site, on top of those sent to the hub before.
ih_benchkit_senders_t *
ih_benchkit_senders_new_ex (const char *endpoint, ih_benchkit_fleet_t *fleet,
                            const ih_benchkit_send_config_t *config);

//  Waits for every sender to finish. Fails the run (messages start with
//  label) if any failed: no connection, a NAK, a reply not the ACK of
//  the next event in order, a timeout, or not every event ACKed. Returns
//  the events ACKed (all of them) and, in *seconds_p, the time from the
//  first send of any sender to the last ACK of any sender.
uint64_t ih_benchkit_senders_wait (ih_benchkit_senders_t *self,
                                   const char *label, double *seconds_p);

//  Joins any thread still running (so call wait first), frees; sets
//  *self_p to NULL; safe twice.
void ih_benchkit_senders_destroy (ih_benchkit_senders_t **self_p);

//  ---------------------------------------------------------------------
//  Statistics

//  Median of count (>= 1) values; sorts them in place.
double ih_benchkit_median (double *values, int count);
//  Median and max of count (>= 1) values; sorts them in place.
void ih_benchkit_median_max (double *values, int count, double *median_p,
                             double *max_p);

//  Self test (no hub needed).
void ih_benchkit_test (bool verbose);

#endif
