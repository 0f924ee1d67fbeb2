/*  =========================================================================
    ih_conftab - a table-driven option engine for the daemons' configuration

    Where it sits: before anything else runs. incuhubd's ih_hubconf and
    incuhub-agent's ih_agentconf each declare their options once, in a
    table of ih_conftab_option_t (config key, long flag, default, kind,
    bounds, help); this module does everything else with that table:
    holds one validated value per option, loads a ZPL file or ZPL text
    (one named section, "hub" or "agent") over the current values, sets
    one option from a command-line flag, prints the help lines and hands
    out the flags for getopt. The wrappers keep their typed getters and
    their cross-option checks (map_max vs map_size, required options).

    Loading parses into a fresh copy of the current values and swaps it in
    only when every key of the text was valid (as Mosquitto reloads its
    config): on any error the object is unchanged. Invariant: every value
    an ih_conftab_t holds has passed its option's check.

    Errors are IH_E_CONFIG plus a malloc'ed message (caller frees; error_p
    may be NULL) naming where the bad value came from:
        "<file>: unknown section '<name>'"
        "<file>: unknown key '<section>/<key>'"
        "<file>: key '<section>/<key>' has children"
            (or "unknown key ..." with IH_CONFTAB_CHILDREN_UNKNOWN)
        "<file>: <section>/<key>: <why>"      (a bad value in a file)
        "--<flag>: <why>", "--<name>: unknown option"   (ih_conftab_set)
        "<file>: not a valid ZPL file", "cannot read <file>: <strerror>"
    where <why> is "empty value", "'x' is not a ZeroMQ endpoint", "'x' is
    not a number in a..b" or, for IH_CONFTAB_INTEGER, "<key> must be an
    integer in a..b, not 'x'". Text from ZPL text (not a file) is named
    "<text>".
    =========================================================================*/
#ifndef IH_CONFTAB_H_INCLUDED
#define IH_CONFTAB_H_INCLUDED

#include <czmq.h>
#include "ih_err.h"

//  How a value is checked. The OPTIONAL kinds may be empty ("not set":
//  the feature is off; a bare key in a file is ""). A NULL value is
//  "empty value" for every kind but STRING and INTEGER, which read it
//  as "".
typedef enum {
    IH_CONFTAB_PATH,              //  non-empty text
    IH_CONFTAB_ENDPOINT,          //  non-empty, contains "://"
    IH_CONFTAB_NUMBER,            //  decimal digits only, in [min, max]
    IH_CONFTAB_OPTIONAL_PATH,     //  "" or a path
    IH_CONFTAB_OPTIONAL_ENDPOINT, //  "" or an endpoint
    IH_CONFTAB_STRING,            //  any text, "" included (checked later)
    IH_CONFTAB_INTEGER            //  strtol integer in [min, max]; its own
                                  //  message ("<key> must be an integer...")
} ih_conftab_kind_t;

//  One option, declared once.
typedef struct {
    const char *key;      //  key under the section in the ZPL file
    const char *flag;     //  long command-line flag, without dashes
    const char *fallback; //  default value (must pass its check), or NULL:
                          //  unset (text NULL, number 0) until given
    ih_conftab_kind_t kind;
    uint64_t min, max; //  bounds for NUMBER and INTEGER
    const char *help;  //  one help line, or NULL: not in ih_conftab_help
} ih_conftab_option_t;

//  Table flags.
//  IH_CONFTAB_CHILDREN_UNKNOWN: a key with children is reported as an
//  unknown key (incuhub-agent's historical text) instead of "has children".
#define IH_CONFTAB_CHILDREN_UNKNOWN 1u

//  A table: the options in order (index = option number) and its flags.
typedef struct {
    const ih_conftab_option_t *options;
    size_t count;
    unsigned flags;
} ih_conftab_table_t;

typedef struct _ih_conftab_t ih_conftab_t;

//  Creates a value set from table (borrowed: it must outlive the object),
//  holding every option's default. A default that fails its check is a
//  programmer error (asserts). Never NULL.
ih_conftab_t *ih_conftab_new (const ih_conftab_table_t *table);

//  Frees; sets *self_p to NULL; safe to call twice.
void ih_conftab_destroy (ih_conftab_t **self_p);

//  Reads the ZPL file path and applies its keys under section over the
//  current values; self unchanged on error. zconfig's own parse messages,
//  which CZMQ prints on stdout, go to stderr while the file is parsed
//  (stdout carries only the daemons' ready lines).
ih_err_t ih_conftab_load_file (ih_conftab_t *self, const char *section,
                               const char *path, char **error_p);

//  Same for ZPL text in memory (messages name the source "<text>").
//  Prints nothing of its own.
ih_err_t ih_conftab_load_string (ih_conftab_t *self, const char *section,
                                 const char *text, char **error_p);

//  Sets one option from the command line; key_or_flag is a config key or
//  a flag. self unchanged on error.
ih_err_t ih_conftab_set (ih_conftab_t *self, const char *key_or_flag,
                         const char *value, char **error_p);

//  The value of option index as given (borrowed until the next successful
//  load or set, or destroy), or NULL when unset.
const char *ih_conftab_text (ih_conftab_t *self, size_t index);

//  The parsed value of numeric option index; 0 for unset or text options.
uint64_t ih_conftab_number (ih_conftab_t *self, size_t index);

//  The flag of option index, or NULL if index >= table->count.
const char *ih_conftab_flag (const ih_conftab_table_t *table, size_t index);

//  Prints one line per option with help ("  --flag  help (default x)").
void ih_conftab_help (const ih_conftab_table_t *table, FILE *out);

//  Sets *error_p (if error_p) to a new formatted message and returns
//  IH_E_CONFIG, for the wrappers' cross-option checks.
ih_err_t ih_conftab_fail (char **error_p, const char *format, ...)
    CHECK_PRINTF (2);

//  Selftest
void ih_conftab_test (bool verbose);

#endif
