/*  =========================================================================
    ih_cmd_keys - `incuhub keygen` and `incuhub site add`

    The set-up end of the data flow: a site gets an Ed25519 key pair
    (keygen; the .key stays at the site, the .pub goes to the bureau), and
    the bureau enters the site's public key, kind and district into the
    hub's registry (site add). The running hub picks the change up without
    a restart, so the new site can publish at once.
    =========================================================================*/
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include "ih_cli.h"
#include "ih_key.h"
#include "ih_event.h"
#include "ih_registry.h"

//  --------------------------------------------------------------------------
//  keygen

static const char *s_keygen_usage =
    "Usage: incuhub keygen NAME [--dir DIR]\n"
    "\n"
    "Creates an Ed25519 signing key pair for site NAME ([a-z0-9._-], at\n"
    "most 64 bytes): DIR/NAME.key (secret and public part, mode 0600; keep\n"
    "it at the site, for its agent) and DIR/NAME.pub (public part, mode\n"
    "0644; give it to the bureau for `incuhub site add`). Never overwrites\n"
    "an existing file.\n"
    "\n"
    "Options:\n"
    "  -d, --dir DIR   directory for the two files (default: .)\n"
    "  -h, --help      this text\n"
    "\n"
    "Prints three lines on stdout:\n"
    "  secret=DIR/NAME.key\n"
    "  public=DIR/NAME.pub\n"
    "  sign-public=<64 hex digits>\n";

int
ih_cmd_keygen (int argc, char *argv[])
{
    const char *sub = "keygen";
    const char *dir = ".";
    static const struct option options[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
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
    struct stat st;
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode))
        return ih_cli_fail (sub, IH_E_IO, IH_CLI_FAIL,
                            "'%s' is not a directory", dir);

    char secret_path[PATH_MAX], public_path[PATH_MAX];
    if (snprintf (secret_path, sizeof secret_path, "%s/%s.key", dir, name) >=
            (int) sizeof secret_path ||
        snprintf (public_path, sizeof public_path, "%s/%s.pub", dir, name) >=
            (int) sizeof public_path)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE, "path too long");
    //  ih_key_save refuses too; checking first gives a clearer message.
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
    char hex[IH_KEY_HEX_SIZE];
    ih_key_to_hex (ih_key_public (key), hex);
    ih_key_destroy (&key);
    printf ("secret=%s\npublic=%s\nsign-public=%s\n", secret_path, public_path,
            hex);
    return IH_CLI_OK;
}

//  --------------------------------------------------------------------------
//  site add

static const char *s_site_usage =
    "Usage: incuhub site add --registry FILE --kind KIND --district NAME\n"
    "                        --key FILE.pub [--site ID]\n"
    "\n"
    "Adds a site to the hub's registry (a JSON file, created if missing,\n"
    "written atomically). A running hub reloads it, so the site can publish\n"
    "without a restart.\n"
    "\n"
    "Options:\n"
    "  -r, --registry FILE  the registry file\n"
    "  -s, --site ID        site id; must equal the key's name (default:\n"
    "                       the key's name)\n"
    "  -k, --kind KIND      district, incubator, offshore, remote, bureau\n"
    "                       or auditor\n"
    "  -D, --district NAME  district the site belongs to, e.g. laoshan\n"
    "                       (tail --district filters on it)\n"
    "  -K, --key FILE       the site's public key file (NAME.pub)\n"
    "  -h, --help           this text\n"
    "\n"
    "Prints one line on stdout:\n"
    "  site=ID kind=KIND district=NAME sign-public=<hex> registry=FILE\n";

static int
s_site_add (int argc, char *argv[])
{
    const char *sub = "site add";
    const char *registry = NULL, *site_id = NULL, *kind = NULL;
    const char *district = NULL, *key_path = NULL;
    static const struct option options[] = {
        {"registry", required_argument, NULL, 'r'},
        {"site", required_argument, NULL, 's'},
        {"kind", required_argument, NULL, 'k'},
        {"district", required_argument, NULL, 'D'},
        {"key", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":r:s:k:D:K:h", options, NULL)) !=
           -1) {
        switch (opt) {
        case 'r':
            registry = optarg;
            break;
        case 's':
            site_id = optarg;
            break;
        case 'k':
            kind = optarg;
            break;
        case 'D':
            district = optarg;
            break;
        case 'K':
            key_path = optarg;
            break;
        case 'h':
            fputs (s_site_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (optind != argc)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "unexpected argument '%s'; see --help",
                            argv[optind]);
    if (!registry || !kind || !district || !key_path)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--registry, --kind, --district and --key are "
                            "required; see --help");
    ih_site_t site;
    memset (&site, 0, sizeof site);
    if (!ih_registry_kind_valid (kind) || strlen (kind) >= sizeof site.kind)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "unknown kind '%s' (district, incubator, "
                            "offshore, remote, bureau or auditor)",
                            kind);
    if (!ih_event_name_valid (district))
        return ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_USAGE,
                            "'%s' is not a valid district name "
                            "([a-z0-9._-], 1 to %d bytes)",
                            district, IH_NAME_MAX);
    if (site_id && !ih_event_name_valid (site_id))
        return ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_USAGE,
                            "'%s' is not a valid site id ([a-z0-9._-], "
                            "1 to %d bytes)",
                            site_id, IH_NAME_MAX);

    ih_key_t *key = NULL;
    ih_err_t err = ih_key_load (key_path, &key);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL, "cannot load key %s: %s",
                            key_path, ih_strerror (err));
    const char *key_name = ih_key_name (key);
    if (site_id && !streq (site_id, key_name)) {
        ih_cli_fail (sub, IH_E_WRONGSITE, IH_CLI_FAIL,
                     "key %s belongs to site '%s', not '%s'", key_path,
                     key_name, site_id);
        ih_key_destroy (&key);
        return IH_CLI_FAIL;
    }
    if (!ih_event_name_valid (key_name)) {
        ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_FAIL,
                     "key %s names an invalid site id", key_path);
        ih_key_destroy (&key);
        return IH_CLI_FAIL;
    }
    //  Lengths were checked above (names are at most IH_NAME_MAX bytes).
    strcpy (site.id, key_name);
    strcpy (site.kind, kind);
    strcpy (site.district, district);
    memcpy (site.key, ih_key_public (key), IH_KEY_PUBLIC_SIZE);
    ih_key_destroy (&key);

    err = ih_registry_add (registry, &site);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL,
                            "cannot add site '%s' to %s: %s", site.id, registry,
                            ih_strerror (err));
    char hex[IH_KEY_HEX_SIZE];
    ih_key_to_hex (site.key, hex);
    printf ("site=%s kind=%s district=%s sign-public=%s registry=%s\n", site.id,
            site.kind, site.district, hex, registry);
    return IH_CLI_OK;
}

int
ih_cmd_site (int argc, char *argv[])
{
    if (argc >= 2 && streq (argv[1], "add"))
        return s_site_add (argc - 1, argv + 1);
    if (argc >= 2 && (streq (argv[1], "--help") || streq (argv[1], "-h"))) {
        fputs (s_site_usage, stdout);
        return IH_CLI_OK;
    }
    return ih_cli_fail ("site", IH_E_COMMAND, IH_CLI_USAGE,
                        "wants a subcommand: add; see 'incuhub site --help'");
}
