/*  =========================================================================
    ih_cli - what the `incuhub` subcommands share

    The incuhub command is the people-and-scripts end of the data flow:
    keygen and site add prepare a site, publish hands facts to a site's
    agent, tail follows the hub's live feed, replay and audit read the
    hub's log, status asks a hub or agent how it is doing. This header
    declares the subcommands (one ih_cmd_*.c file per group) and the few
    helpers they share: error reporting in the one house format, option
    parsing, the transport rule for connections to the hub (CURVE or,
    for development on this machine only, plain text), request/reply over
    a DEALER, opening the hub's log read-only, and printing an event as
    JSON.

    Conventions every subcommand follows:
      - `--help` prints usage on stdout and exits 0;
      - errors go to stderr as `incuhub <sub>: <message> (<IH_E_NAME>)`;
      - exit status IH_CLI_USAGE (2) for bad arguments, IH_CLI_FAIL (1) for
        runtime failures, IH_CLI_AUDIT (3) when an audit finds a fault;
      - stdout carries only the documented result lines.
    =========================================================================*/
#ifndef IH_CLI_H_INCLUDED
#define IH_CLI_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include "ih_err.h"
#include "ih_follow.h"
#include "ih_key.h"
#include "ih_log.h"
#include "ih_wire.h"

#define IH_CLI_OK 0
#define IH_CLI_FAIL 1
#define IH_CLI_USAGE 2
#define IH_CLI_AUDIT 3

//  Default ms to wait for an agent's or hub's answer.
#define IH_CLI_TIMEOUT_DEFAULT 10000

//  Prints `incuhub <sub>: <message> (<IH_E_NAME>)` to stderr and returns
//  status, so callers can write `return ih_cli_fail (...)`.
int ih_cli_fail (const char *sub, ih_err_t err, int status, const char *format,
                 ...) CHECK_PRINTF (4);

//  Call before a command's getopt_long loop: restarts getopt on the new
//  argv (optind 0 makes glibc reinitialise its state, which main's own
//  parsing has used) and silences getopt's messages, since the command
//  reports errors itself with ih_cli_bad_option.
void ih_cli_getopt_init (void);

//  Reports a getopt_long error (unknown option, missing argument) for the
//  option string in argv[optind - 1]; returns IH_CLI_USAGE. Call it when
//  getopt_long returns '?' or ':' (the option string must start with ':').
int ih_cli_bad_option (const char *sub, char *argv[], int opt);

//  For a command without operands, after the getopt_long loop: true if
//  the loop consumed every word of argv; else reports the first word left
//  ("unexpected argument 'X'; see --help", IH_E_BADARG) and returns false,
//  for the caller to return IH_CLI_USAGE.
bool ih_cli_no_arguments (const char *sub, int argc, char *argv[]);

//  Parses a whole decimal number (no sign, no junk) into *value_p.
bool ih_cli_parse_u64 (const char *text, uint64_t *value_p);

//  Parses the value of --timeout, in ms (1 .. 24 h); on failure reports a
//  usage error and returns false.
bool ih_cli_parse_timeout (const char *sub, const char *text, int *ms_p);
//  Parses the value of --flag as a whole number >= 1 into *value_p; on
//  failure prints "incuhub SUB: --FLAG wants WHAT >= 1, not 'TEXT'"
//  (IH_E_BADARG) and returns false. what is e.g. "a number" or "ms".
bool ih_cli_parse_positive (const char *sub, const char *flag, const char *what,
                            const char *text, uint64_t *value_p);

//  ---------------------------------------------------------------------
//  Transport to the hub (docs/security.md). Every command that talks to
//  the hub takes the same three options, and one rule decides, per
//  endpoint, how the connection is secured:
//    --hub-key FILE --key FILE  CURVE: FILE is the hub's NAME.pub (its
//                               transport public key authenticates the
//                               hub) and our own NAME.key (its transport
//                               secret authenticates us to the hub's ZAP)
//    --plaintext                no CURVE; only to a local endpoint
//                               (ih_curve_local: ipc://, inproc://,
//                               loopback tcp://); --key is then unused
//                               and --hub-key only checks checkpoint
//                               signatures (audit, prove)
//    neither                    plain text to a local endpoint only
//  Usage errors (exit 2, IH_E_BADARG): a non-local endpoint without
//  --hub-key ("... needs --hub-key and --key (CURVE)") or with
//  --plaintext; --hub-key without --key where CURVE is used. A key file
//  that does not load, or lacks its transport part, is IH_E_KEY (exit 1).

//  Long-option codes of the three options, for the commands' getopt
//  tables (IH_CLI_TRANSPORT_OPTIONS adds the entries).
#define IH_CLI_OPT_HUB_KEY 1001
#define IH_CLI_OPT_KEY 1002
#define IH_CLI_OPT_PLAINTEXT 1003
// clang-format off
#define IH_CLI_TRANSPORT_OPTIONS                                              \
    {"hub-key", required_argument, NULL, IH_CLI_OPT_HUB_KEY},                 \
    {"key", required_argument, NULL, IH_CLI_OPT_KEY},                         \
    {"plaintext", no_argument, NULL, IH_CLI_OPT_PLAINTEXT}
// clang-format on

//  The help lines of the three options, for the commands' usage texts.
#define IH_CLI_TRANSPORT_HELP                                                  \
    "  --hub-key FILE       the hub's public key (NAME.pub): CURVE to the\n"   \
    "                       hub, which it authenticates (needs --key)\n"       \
    "  --key FILE           your own secret key (NAME.key, with its\n"         \
    "                       transport part), registered with the hub\n"        \
    "  --plaintext          no CURVE (development only): local endpoints\n"    \
    "                       only (ipc://, loopback tcp://); without\n"         \
    "                       --hub-key plain text is the default for them\n"

//  The transport options of one command, and the keys they name once
//  loaded. Zero it (ih_cli_transport_init), fill the paths from the
//  options, call ih_cli_transport_check per endpoint, and free it with
//  ih_cli_transport_end.
typedef struct {
    const char *hub_key_path; //  --hub-key, or NULL
    const char *key_path;     //  --key, or NULL
    bool plaintext;           //  --plaintext
    ih_key_t *hub_key;        //  loaded from hub_key_path, or NULL
    ih_key_t *key;            //  loaded from key_path (CURVE only), or NULL
} ih_cli_transport_t;

void ih_cli_transport_init (ih_cli_transport_t *self);
//  Frees the loaded keys.
void ih_cli_transport_end (ih_cli_transport_t *self);

//  Handles one of the three options (opt is an IH_CLI_OPT_* code). Returns
//  false if opt is not one of them.
bool ih_cli_transport_option (ih_cli_transport_t *self, int opt,
                              const char *arg);

//  True if the options say CURVE (--hub-key given, no --plaintext).
bool ih_cli_transport_curve (ih_cli_transport_t *self);

//  True if any of the three options was given (for commands that reject
//  them where nothing talks to the hub).
bool ih_cli_transport_given (ih_cli_transport_t *self);

//  Applies the rule to endpoint and loads the keys it needs (once).
//  Returns IH_CLI_OK, or reports (`incuhub SUB: ... (IH_E_NAME)`) and
//  returns the exit status (IH_CLI_USAGE or IH_CLI_FAIL).
int ih_cli_transport_check (const char *sub, ih_cli_transport_t *self,
                            const char *endpoint);

//  Loads --hub-key (if given and not yet loaded) for checkpoint
//  signatures, whatever the transport. Returns IH_CLI_OK or reports and
//  returns IH_CLI_FAIL.
int ih_cli_transport_load_hub_key (const char *sub, ih_cli_transport_t *self);

//  A hint for a hub that does not answer, to append to the message: with
//  CURVE the handshake may have been refused (unregistered or revoked
//  key, wrong --hub-key); without it the hub may want CURVE.
const char *ih_cli_transport_hint (ih_cli_transport_t *self);

//  Checks endpoint (ih_cli_transport_check) and makes sock, not yet
//  connected, a CURVE client when the options say so. Returns IH_CLI_OK
//  or the exit status after reporting.
int ih_cli_transport_apply (const char *sub, ih_cli_transport_t *self,
                            zsock_t *sock, const char *endpoint);

//  Starts an ih_follow on options, as the transport options say: CURVE
//  with their key files, else plain text. The endpoints in options must
//  have passed ih_cli_transport_check. Returns NULL if ih_follow_new
//  fails (it reports why).
ih_follow_t *ih_cli_follow_new (ih_cli_transport_t *transport,
                                ih_follow_options_t *options);

//  A new socket of type with what every command's sockets need:
//  ZMQ_MAXMSGSIZE set, no linger (an unanswered request to a dead peer
//  must not keep the command alive). Not yet connected. Returns NULL
//  after reporting (IH_E_INTERNAL; exit status IH_CLI_FAIL).
zsock_t *ih_cli_socket (const char *sub, int type);

//  Connects sock to endpoint. Returns IH_CLI_OK, or reports ("cannot
//  connect to 'EP': ...", IH_E_BADARG) and returns IH_CLI_USAGE.
int ih_cli_dial (const char *sub, zsock_t *sock, const char *endpoint);

//  A new socket of type (ZMQ_DEALER, ZMQ_SUB) connected to endpoint, made
//  by ih_cli_socket, secured by transport (NULL: plain text, for an
//  agent's local listen socket). Returns NULL after reporting the error;
//  *status_p (if not NULL) then holds the exit status.
zsock_t *ih_cli_connect (const char *sub, int type, const char *endpoint,
                         ih_cli_transport_t *transport, int *status_p);

//  Waits up to timeout ms for one message on sock. Returns IH_OK with
//  *reply_p set (caller owns it), IH_E_TIMEOUT, or IH_E_INTERNAL when
//  interrupted by SIGINT or SIGTERM (zsys_interrupted is then set).
ih_err_t ih_cli_recv (zsock_t *sock, int timeout, zmsg_t **reply_p);

//  ih_cli_recv, then ih_wire_decode of the reply into *wire, which points
//  into *reply_p (the caller destroys it, whatever this returns). Returns
//  IH_OK, IH_E_TIMEOUT, IH_E_INTERNAL (interrupted), or the decode error
//  (never one of those two).
ih_err_t ih_cli_recv_wire (zsock_t *sock, int timeout, zmsg_t **reply_p,
                           ih_wire_t *wire);

//  Opens the hub's log in dir read-only (safe next to a running hub).
//  Returns NULL after reporting: "'DIR' is not a directory" (IH_E_IO) or
//  "cannot open the log in DIR (see above)" (IH_E_STORE); exit status
//  IH_CLI_FAIL either way.
ih_log_t *ih_cli_log_open (const char *sub, const char *dir);

//  True if dir is a directory; else reports "'DIR' is not a directory"
//  (IH_E_IO) and returns false, for the caller to return IH_CLI_FAIL.
bool ih_cli_directory (const char *sub, const char *dir);

//  Prints json as one line (json_dumps with flags) on stdout, flushed.
//  Returns false, printing nothing, if it does not serialise.
bool ih_cli_print_json (json_t *json, size_t flags);

//  Decodes a signed event and prints it as one compact JSON line (the
//  ih_json_event form) on stdout, flushed. Returns IH_OK, or the decode
//  error (nothing printed).
ih_err_t ih_cli_print_event (const uint8_t *bytes, size_t size,
                             uint64_t hub_seq, uint64_t received);

//  The subcommands. argv[0] is the subcommand's name.
int ih_cmd_keygen (int argc, char *argv[]);
int ih_cmd_site (int argc, char *argv[]); //  ih_cmd_site.c
int ih_cmd_publish (int argc, char *argv[]);
int ih_cmd_status (int argc, char *argv[]);
int ih_cmd_tail (int argc, char *argv[]);
int ih_cmd_replay (int argc, char *argv[]);
int ih_cmd_audit (int argc, char *argv[]);
int ih_cmd_verify_proof (int argc, char *argv[]);
int ih_cmd_prove (int argc, char *argv[]);

#endif
