/*  =========================================================================
    ih_cli - what the `incuhub` subcommands share

    The incuhub command is the people-and-scripts end of the data flow:
    keygen and site add prepare a site, publish hands facts to a site's
    agent, tail follows the hub's live feed, replay and audit read the
    hub's log, status asks a hub or agent how it is doing. This header
    declares the subcommands (one ih_cmd_*.c file per group) and the few
    helpers they share: error reporting in the one house format, option
    parsing, request/reply over a DEALER, and printing an event as JSON.

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
#include "ih_err.h"

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

//  Reports a getopt_long error (unknown option, missing argument) for the
//  option string in argv[optind - 1]; returns IH_CLI_USAGE. Call it when
//  getopt_long returns '?' or ':' (the option string must start with ':').
int ih_cli_bad_option (const char *sub, char *argv[], int opt);

//  Parses a whole decimal number (no sign, no junk) into *value_p.
bool ih_cli_parse_u64 (const char *text, uint64_t *value_p);

//  Parses a timeout in ms (1 .. 24 h) for option name; on failure reports a
//  usage error and returns false.
bool ih_cli_parse_timeout (const char *sub, const char *text, int *ms_p);
//  Parses the value of --flag as a whole number >= 1 into *value_p; on
//  failure prints "incuhub SUB: --FLAG wants WHAT >= 1, not 'TEXT'"
//  (IH_E_BADARG) and returns false. what is e.g. "a number" or "ms".
bool ih_cli_parse_positive (const char *sub, const char *flag, const char *what,
                            const char *text, uint64_t *value_p);

//  A new socket of type (ZMQ_DEALER, ZMQ_SUB) connected to endpoint, with
//  ZMQ_MAXMSGSIZE set. Returns NULL after reporting the error.
zsock_t *ih_cli_connect (const char *sub, int type, const char *endpoint);

//  Waits up to timeout ms for one message on sock. Returns IH_OK with
//  *reply_p set (caller owns it), IH_E_TIMEOUT, or IH_E_INTERNAL when
//  interrupted by SIGINT or SIGTERM (zsys_interrupted is then set).
ih_err_t ih_cli_recv (zsock_t *sock, int timeout, zmsg_t **reply_p);

//  Decodes a signed event and prints it as one compact JSON line (the
//  ih_json_event form) on stdout, flushed. Returns IH_OK, or the decode
//  error (nothing printed).
ih_err_t ih_cli_print_event (const uint8_t *bytes, size_t size,
                             uint64_t hub_seq, uint64_t received);

//  The subcommands. argv[0] is the subcommand's name.
int ih_cmd_keygen (int argc, char *argv[]);
int ih_cmd_site (int argc, char *argv[]);
int ih_cmd_publish (int argc, char *argv[]);
int ih_cmd_status (int argc, char *argv[]);
int ih_cmd_tail (int argc, char *argv[]);
int ih_cmd_replay (int argc, char *argv[]);
int ih_cmd_audit (int argc, char *argv[]);
int ih_cmd_verify_proof (int argc, char *argv[]);
int ih_cmd_prove (int argc, char *argv[]);

#endif
