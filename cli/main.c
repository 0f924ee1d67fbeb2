/*  =========================================================================
    incuhub - the command line of the incuhub event hub

    Dispatches to one subcommand; each lives in an ih_cmd_*.c file and
    parses its own options with getopt_long. This is how people and scripts
    touch the system: prepare sites (keygen, site add), report facts to a
    site's agent (publish), follow the hub's feed (tail), read and verify
    the hub's log (replay, audit) and check a daemon (status).
    =========================================================================*/
#include "ih_cli.h"

#ifndef IH_VERSION
#define IH_VERSION "0.0.0"
#endif

static const struct {
    const char *name;
    int (*run) (int argc, char *argv[]);
    const char *summary;
} s_commands[] = {
    {"keygen", ih_cmd_keygen, "create a site's signing and transport keys"},
    {"site", ih_cmd_site,
     "register sites, rotate or revoke keys, set permissions"},
    {"publish", ih_cmd_publish, "report events to a site's agent"},
    {"tail", ih_cmd_tail, "follow the hub's live event feed"},
    {"replay", ih_cmd_replay, "print the hub's stored events"},
    {"audit", ih_cmd_audit, "verify the hub's log and summarise it"},
    {"verify-proof", ih_cmd_verify_proof, "check a Merkle proof offline"},
    {"prove", ih_cmd_prove, "fetch a Merkle proof from the hub"},
    {"status", ih_cmd_status, "ask a hub or an agent for its status"},
};
#define S_COMMANDS (sizeof (s_commands) / sizeof (s_commands[0]))

static void
s_usage (FILE *out)
{
    fprintf (out, "Usage: incuhub COMMAND [OPTIONS]\n"
                  "       incuhub COMMAND --help\n\n"
                  "Commands:\n");
    for (size_t i = 0; i < S_COMMANDS; i++)
        fprintf (out, "  %-12s %s\n", s_commands[i].name,
                 s_commands[i].summary);
    fprintf (out, "\nExit status: 0 success, 1 runtime failure, 2 usage error, "
                  "3 audit failure.\nErrors go to stderr as "
                  "'incuhub COMMAND: message (IH_E_NAME)'.\n");
}

int
main (int argc, char *argv[])
{
    //  stdout carries only the documented result lines: the libraries'
    //  log lines (zsys_*) go to stderr with the error messages
    zsys_set_logstream (stderr);
    zsys_set_logident ("incuhub");
    if (argc < 2) {
        s_usage (stderr);
        return IH_CLI_USAGE;
    }
    const char *name = argv[1];
    if (streq (name, "--help") || streq (name, "-h") || streq (name, "help")) {
        s_usage (stdout);
        return IH_CLI_OK;
    }
    if (streq (name, "--version")) {
        printf ("incuhub %s\n", IH_VERSION);
        return IH_CLI_OK;
    }
    for (size_t i = 0; i < S_COMMANDS; i++)
        if (streq (name, s_commands[i].name))
            return s_commands[i].run (argc - 1, argv + 1);

    fprintf (stderr,
             "incuhub: unknown command '%s'; try 'incuhub --help' "
             "(IH_E_COMMAND)\n",
             name);
    return IH_CLI_USAGE;
}
