/*  =========================================================================
    ih_cmd_keys - `incuhub keygen`

    The set-up end of the data flow: a site (or the hub, or an auditor)
    gets its keys, made together by ih_key_new: an Ed25519 pair that signs
    its events (or checkpoints) and a Curve25519 pair for the CurveZMQ
    transport. The .key stays at the site, for its agent or commands; the
    .pub goes to the bureau, which registers it with `incuhub site add`
    (ih_cmd_site.c), or, for the hub's own key, to every client as
    --hub-key.
    =========================================================================*/
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include "ih_cli.h"
#include "ih_key.h"
#include "ih_event.h"

//  --------------------------------------------------------------------------
//  keygen

static const char *s_keygen_usage =
    "Usage: incuhub keygen NAME [--dir DIR]\n"
    "\n"
    "Creates the keys of site NAME ([a-z0-9._-], at most 64 bytes): an\n"
    "Ed25519 pair that signs its events and a Curve25519 pair for the\n"
    "encrypted, authenticated transport (CurveZMQ) to the hub. Both go\n"
    "into DIR/NAME.key (secret and public parts, mode 0600; keep it at the\n"
    "site, for its agent and commands) and DIR/NAME.pub (public parts,\n"
    "mode 0644; give it to the bureau for `incuhub site add`, or, for the\n"
    "hub's own key, to every client as --hub-key). Never overwrites an\n"
    "existing file.\n"
    "\n"
    "Options:\n"
    "  -d, --dir DIR   directory for the two files (default: .)\n"
    "  -h, --help      this text\n"
    "\n"
    "Prints four lines on stdout:\n"
    "  secret=DIR/NAME.key\n"
    "  public=DIR/NAME.pub\n"
    "  sign-public=<64 hex digits>\n"
    "  curve-public=<64 hex digits>\n";

int
ih_cmd_keygen (int argc, char *argv[])
{
    const char *sub = "keygen";
    const char *dir = ".";
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    ih_cli_getopt_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, ":d:h", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'h':
            fputs (s_keygen_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (optind != argc - 1)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "wants exactly one NAME; see --help");
    const char *name = argv[optind];
    if (!ih_event_name_valid (name))
        return ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_USAGE,
                            "'%s' is not a valid site id ([a-z0-9._-], "
                            "1 to %d bytes)",
                            name, IH_NAME_MAX);
    if (!ih_cli_directory (sub, dir))
        return IH_CLI_FAIL;

    char secret_path[PATH_MAX], public_path[PATH_MAX];
    if (snprintf (secret_path, sizeof secret_path, "%s/%s.key", dir, name) >=
            (int) sizeof secret_path ||
        snprintf (public_path, sizeof public_path, "%s/%s.pub", dir, name) >=
            (int) sizeof public_path)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE, "path too long");
    //  ih_key_save refuses too; checking first gives a clearer message.
    struct stat st;
    if (lstat (secret_path, &st) == 0 || lstat (public_path, &st) == 0)
        return ih_cli_fail (sub, IH_E_IO, IH_CLI_FAIL,
                            "%s or %s exists already; refusing to overwrite",
                            secret_path, public_path);

    ih_key_t *key = ih_key_new (name);
    if (!key)
        return ih_cli_fail (sub, IH_E_INTERNAL, IH_CLI_FAIL,
                            "cannot create a key pair");
    ih_err_t err = ih_key_save (key, dir);
    if (err != IH_OK) {
        ih_key_destroy (&key);
        return ih_cli_fail (sub, err, IH_CLI_FAIL, "cannot write %s and %s: %s",
                            secret_path, public_path, ih_strerror (err));
    }
    char hex[IH_KEY_HEX_SIZE], curve_hex[IH_KEY_HEX_SIZE];
    ih_key_to_hex (ih_key_public (key), hex);
    assert (ih_key_has_curve (key)); //  ih_key_new makes both pairs
    ih_key_to_hex (ih_key_curve_public (key), curve_hex);
    ih_key_destroy (&key);
    printf ("secret=%s\npublic=%s\nsign-public=%s\ncurve-public=%s\n",
            secret_path, public_path, hex, curve_hex);
    return IH_CLI_OK;
}
