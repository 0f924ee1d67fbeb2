/*  =========================================================================
    ih_regchange - registry changes: the payload of registry.* events

    Data flow: `incuhub site add|rotate|revoke|permit` fills an
    ih_regchange_t, turns it into JSON with ih_regchange_json, packs that
    into an event's data (ih_json_to_msgpack) and signs the event as the
    bureau. The hub (hub/ih_registry, at admit and at apply) and audit read
    it back with ih_regchange_decode from the decoded event. The meaning of
    each change (who may make it, when a rotation is allowed) is the
    registry's business; this module only knows the shape of the data.

    Decoding is strict, because a registry change that one reader accepts
    and another refuses would make the hub and an audit disagree about who
    may sign what: every field of the change must be there with its type,
    no other field may be, and every value must be one the rest of the
    system can use as it is (names as ih_event_name_valid defines them,
    keys as 64 hex digits, a from_seq that a rotation can mean). Every
    refusal is IH_E_REGISTRY with a reason naming the field.

    The data map is read through ih_json_from_msgpack (which already
    refuses malformed msgpack, repeated keys, non-string keys and invalid
    UTF-8) and Jansson, so the JSON a person writes and the msgpack the
    hub stores are read by the same rules.
    =========================================================================*/
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include <jansson.h>
#include "ih_regchange.h"
#include "ih_check.h"
#include "ih_json.h"

static const char *s_kinds[] = {"bureau",   "district", "incubator",
                                "offshore", "remote",   "auditor"};

//  Indexed by ih_read_scope_t.
static const char *s_scopes[] = {"none", "own", "district", "all"};

//  The fields of each change, in the order of ih_regop_t.
static const struct {
    const char *type;
    const char *fields[5]; //  NULL-terminated when fewer
} s_ops[] = {
    {IH_REG_SITE_ADDED, {"site", "kind", "district", "sign_key", "curve_key"}},
    {IH_REG_KEY_ROTATED, {"site", "sign_key", "curve_key", "from_seq", NULL}},
    {IH_REG_KEY_REVOKED, {"site", "reason", NULL}},
    {IH_REG_PERMISSIONS, {"kind", "publish", "read", NULL}},
};

#define S_OPS (sizeof (s_ops) / sizeof (s_ops[0]))
#define S_FIELDS 5

bool
ih_regchange_is_registry (const char *type)
{
    return type && strncmp (type, IH_REG_PREFIX, strlen (IH_REG_PREFIX)) == 0;
}

bool
ih_regchange_kind_valid (const char *kind)
{
    if (!kind)
        return false;
    for (size_t i = 0; i < sizeof (s_kinds) / sizeof (s_kinds[0]); i++)
        if (streq (kind, s_kinds[i]))
            return true;
    return false;
}

const char *
ih_regchange_scope_name (ih_read_scope_t scope)
{
    if ((int) scope < 0 ||
        (size_t) scope >= sizeof (s_scopes) / sizeof (s_scopes[0]))
        return "unknown";
    return s_scopes[scope];
}

bool
ih_regchange_scope_parse (const char *name, ih_read_scope_t *scope_p)
{
    if (!name)
        return false;
    for (size_t i = 0; i < sizeof (s_scopes) / sizeof (s_scopes[0]); i++)
        if (streq (name, s_scopes[i])) {
            if (scope_p)
                *scope_p = (ih_read_scope_t) i;
            return true;
        }
    return false;
}

bool
ih_regchange_pattern_valid (const char *pattern)
{
    if (!pattern)
        return false;
    if (streq (pattern, "*"))
        return true;
    size_t len = strnlen (pattern, IH_NAME_MAX + 1);
    if (len > IH_NAME_MAX)
        return false;
    if (len > 2 && streq (pattern + len - 2, ".*")) {
        char prefix[IH_NAME_MAX + 1];
        memcpy (prefix, pattern, len - 2);
        prefix[len - 2] = 0;
        return ih_event_name_valid (prefix);
    }
    return ih_event_name_valid (pattern);
}

bool
ih_regchange_pattern_match (const char *pattern, const char *type)
{
    if (!pattern || !type)
        return false;
    if (streq (pattern, "*"))
        return true;
    size_t len = strlen (pattern);
    if (len > 2 && streq (pattern + len - 2, ".*"))
        //  The prefix with its dot, and at least one character after it:
        //  "enterprise.*" matches neither "enterprise" nor "enterprises.x"
        return strncmp (type, pattern, len - 1) == 0 && type[len - 1] != 0;
    return streq (pattern, type);
}

const char *
ih_regchange_type (const ih_regchange_t *change)
{
    assert (change);
    if ((int) change->op < 0 || (size_t) change->op >= S_OPS)
        return NULL;
    return s_ops[change->op].type;
}

//  --------------------------------------------------------------------------
//  Decoding

//  Sets the reason and returns IH_E_REGISTRY.
static ih_err_t
s_refuse (char *why, size_t why_size, const char *format, ...)
{
    if (why && why_size) {
        va_list args;
        va_start (args, format);
        vsnprintf (why, why_size, format, args);
        va_end (args);
    }
    return IH_E_REGISTRY;
}

//  The string value of field in data, or NULL (and a reason) if it is
//  missing or not a string, has an embedded NUL, or is size bytes or
//  longer.
static const char *
s_string (json_t *data, const char *field, size_t size, char *why,
          size_t why_size, const char *type)
{
    json_t *value = json_object_get (data, field);
    if (!value || !json_is_string (value)) {
        s_refuse (why, why_size, "%s: field \"%s\" %s", type, field,
                  value ? "is not a string" : "is missing");
        return NULL;
    }
    const char *text = json_string_value (value);
    if (json_string_length (value) != strlen (text)) {
        s_refuse (why, why_size, "%s: field \"%s\" holds a NUL byte", type,
                  field);
        return NULL;
    }
    if (strlen (text) >= size) {
        s_refuse (why, why_size, "%s: field \"%s\" is longer than %zu bytes",
                  type, field, size - 1);
        return NULL;
    }
    return text;
}

//  Copies a valid name (site id, district) from field into out
//  (IH_NAME_MAX + 1 bytes).
static ih_err_t
s_name (json_t *data, const char *field, char *out, char *why, size_t why_size,
        const char *type)
{
    const char *text =
        s_string (data, field, IH_NAME_MAX + 1, why, why_size, type);
    if (!text)
        return IH_E_REGISTRY;
    if (!ih_event_name_valid (text))
        return s_refuse (why, why_size,
                         "%s: field \"%s\" is not a valid name "
                         "(1..%d of [a-z0-9._-])",
                         type, field, IH_NAME_MAX);
    strcpy (out, text);
    return IH_OK;
}

//  Copies a valid site kind from field into out (IH_REG_KIND_MAX bytes).
static ih_err_t
s_kind (json_t *data, char *out, char *why, size_t why_size, const char *type)
{
    const char *text =
        s_string (data, "kind", IH_REG_KIND_MAX, why, why_size, type);
    if (!text)
        return IH_E_REGISTRY;
    if (!ih_regchange_kind_valid (text))
        return s_refuse (why, why_size,
                         "%s: field \"kind\" is not a site kind (bureau, "
                         "district, incubator, offshore, remote, auditor)",
                         type);
    strcpy (out, text);
    return IH_OK;
}

//  Parses a 64-hex-digit key from field into out (32 bytes).
static ih_err_t
s_key (json_t *data, const char *field, uint8_t *out, char *why,
       size_t why_size, const char *type)
{
    const char *text =
        s_string (data, field, IH_KEY_HEX_SIZE, why, why_size, type);
    if (!text)
        return IH_E_REGISTRY;
    if (ih_key_from_hex (text, out))
        return s_refuse (why, why_size, "%s: field \"%s\" is not 64 hex digits",
                         type, field);
    return IH_OK;
}

//  Refuses any field of data that the change does not have.
static ih_err_t
s_no_extra (json_t *data, size_t op, char *why, size_t why_size)
{
    void *iter = json_object_iter (data);
    while (iter) {
        const char *key = json_object_iter_key (iter);
        size_t key_len = json_object_iter_key_len (iter);
        bool known = false;
        for (size_t i = 0; i < S_FIELDS && s_ops[op].fields[i]; i++)
            if (strlen (s_ops[op].fields[i]) == key_len &&
                memcmp (s_ops[op].fields[i], key, key_len) == 0)
                known = true;
        if (!known) {
            //  Name the field only if it is printable as it is
            char name[IH_NAME_MAX + 1];
            if (key_len <= IH_NAME_MAX && strlen (key) == key_len &&
                ih_event_name_valid (key))
                snprintf (name, sizeof (name), "%s", key);
            else
                snprintf (name, sizeof (name), "?");
            return s_refuse (why, why_size, "%s: unexpected field \"%s\"",
                             s_ops[op].type, name);
        }
        iter = json_object_iter_next (data, iter);
    }
    return IH_OK;
}

static ih_err_t
s_decode_site_added (json_t *data, ih_regchange_t *change, char *why,
                     size_t why_size)
{
    const char *type = IH_REG_SITE_ADDED;
    if (s_name (data, "site", change->site, why, why_size, type) ||
        s_kind (data, change->kind, why, why_size, type) ||
        s_name (data, "district", change->district, why, why_size, type) ||
        s_key (data, "sign_key", change->sign_key, why, why_size, type) ||
        s_key (data, "curve_key", change->curve_key, why, why_size, type))
        return IH_E_REGISTRY;
    return IH_OK;
}

static ih_err_t
s_decode_key_rotated (json_t *data, ih_regchange_t *change, char *why,
                      size_t why_size)
{
    const char *type = IH_REG_KEY_ROTATED;
    if (s_name (data, "site", change->site, why, why_size, type) ||
        s_key (data, "sign_key", change->sign_key, why, why_size, type) ||
        s_key (data, "curve_key", change->curve_key, why, why_size, type))
        return IH_E_REGISTRY;
    json_t *from_seq = json_object_get (data, "from_seq");
    if (!from_seq)
        return s_refuse (why, why_size, "%s: field \"from_seq\" is missing",
                         type);
    if (!json_is_integer (from_seq))
        return s_refuse (why, why_size,
                         "%s: field \"from_seq\" is not an integer", type);
    //  seq 1 is always signed with the key the site was added with
    json_int_t value = json_integer_value (from_seq);
    if (value < 2)
        return s_refuse (why, why_size,
                         "%s: field \"from_seq\" must be at least 2", type);
    change->from_seq = (uint64_t) value;
    return IH_OK;
}

static ih_err_t
s_decode_key_revoked (json_t *data, ih_regchange_t *change, char *why,
                      size_t why_size)
{
    const char *type = IH_REG_KEY_REVOKED;
    if (s_name (data, "site", change->site, why, why_size, type))
        return IH_E_REGISTRY;
    const char *reason =
        s_string (data, "reason", IH_REG_REASON_MAX, why, why_size, type);
    if (!reason)
        return IH_E_REGISTRY;
    //  The reason ends up in log lines and audit output: one line of text
    for (const char *c = reason; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            return s_refuse (why, why_size,
                             "%s: field \"reason\" holds a control character",
                             type);
    strcpy (change->reason, reason);
    return IH_OK;
}

static ih_err_t
s_decode_permissions (json_t *data, ih_regchange_t *change, char *why,
                      size_t why_size)
{
    const char *type = IH_REG_PERMISSIONS;
    if (s_kind (data, change->kind, why, why_size, type))
        return IH_E_REGISTRY;
    json_t *publish = json_object_get (data, "publish");
    if (!publish)
        return s_refuse (why, why_size, "%s: field \"publish\" is missing",
                         type);
    if (!json_is_array (publish))
        return s_refuse (why, why_size, "%s: field \"publish\" is not an array",
                         type);
    if (json_array_size (publish) > IH_REG_PATTERNS_MAX)
        return s_refuse (why, why_size,
                         "%s: field \"publish\" has more than %d patterns",
                         type, IH_REG_PATTERNS_MAX);
    for (size_t i = 0; i < json_array_size (publish); i++) {
        json_t *item = json_array_get (publish, i);
        const char *pattern = json_string_value (item);
        if (!pattern || json_string_length (item) != strlen (pattern) ||
            !ih_regchange_pattern_valid (pattern))
            return s_refuse (why, why_size,
                             "%s: publish pattern %zu is not \"*\", an event "
                             "type or a name followed by \".*\"",
                             type, i + 1);
        strcpy (change->publish[i], pattern);
    }
    change->publish_count = json_array_size (publish);
    const char *read =
        s_string (data, "read", IH_NAME_MAX + 1, why, why_size, type);
    if (!read)
        return IH_E_REGISTRY;
    if (!ih_regchange_scope_parse (read, &change->read))
        return s_refuse (why, why_size,
                         "%s: field \"read\" is not a scope (all, district, "
                         "own, none)",
                         type);
    return IH_OK;
}

ih_err_t
ih_regchange_decode (const ih_event_t *event, ih_regchange_t *change, char *why,
                     size_t why_size)
{
    assert (event);
    assert (change);
    if (why && why_size)
        *why = 0;
    memset (change, 0, sizeof (*change));
    size_t op = S_OPS;
    for (size_t i = 0; i < S_OPS; i++)
        if (streq (event->type, s_ops[i].type))
            op = i;
    if (op == S_OPS)
        return s_refuse (why, why_size,
                         ih_regchange_is_registry (event->type)
                             ? "unknown registry change type"
                             : "not a registry event");
    if (!event->data || event->data_size == 0)
        return s_refuse (why, why_size, "%s: no data", s_ops[op].type);
    json_t *data = NULL;
    ih_err_t rc = ih_json_from_msgpack (event->data, event->data_size, &data);
    if (rc)
        return s_refuse (why, why_size, "%s: data is not a valid map (%s)",
                         s_ops[op].type, ih_err_name (rc));
    ih_regchange_t decoded;
    memset (&decoded, 0, sizeof (decoded));
    decoded.op = (ih_regop_t) op;
    if (!json_is_object (data))
        rc = s_refuse (why, why_size, "%s: data is not a map", s_ops[op].type);
    else
        rc = s_no_extra (data, op, why, why_size);
    if (rc == IH_OK) {
        switch (decoded.op) {
        case IH_REG_OP_SITE_ADDED:
            rc = s_decode_site_added (data, &decoded, why, why_size);
            break;
        case IH_REG_OP_KEY_ROTATED:
            rc = s_decode_key_rotated (data, &decoded, why, why_size);
            break;
        case IH_REG_OP_KEY_REVOKED:
            rc = s_decode_key_revoked (data, &decoded, why, why_size);
            break;
        case IH_REG_OP_PERMISSIONS:
            rc = s_decode_permissions (data, &decoded, why, why_size);
            break;
        }
    }
    json_decref (data);
    if (rc == IH_OK)
        *change = decoded;
    return rc;
}

//  --------------------------------------------------------------------------
//  Encoding

//  Sets field of object to a string made of at most size bytes of text;
//  -1 if it is not UTF-8.
static int
s_put_string (json_t *object, const char *field, const char *text, size_t size)
{
    json_t *value = json_stringn (text, strnlen (text, size));
    return value ? json_object_set_new (object, field, value) : -1;
}

static int
s_put_key (json_t *object, const char *field, const uint8_t *key)
{
    char hex[IH_KEY_HEX_SIZE];
    ih_key_to_hex (key, hex);
    return json_object_set_new (object, field, json_string (hex));
}

char *
ih_regchange_json (const ih_regchange_t *change)
{
    assert (change);
    json_t *object = json_object ();
    assert (object);
    int rc = 0;
    switch (change->op) {
    case IH_REG_OP_SITE_ADDED:
        rc |= s_put_string (object, "site", change->site, IH_NAME_MAX + 1);
        rc |= s_put_string (object, "kind", change->kind, IH_REG_KIND_MAX);
        rc |= s_put_string (object, "district", change->district,
                            IH_NAME_MAX + 1);
        rc |= s_put_key (object, "sign_key", change->sign_key);
        rc |= s_put_key (object, "curve_key", change->curve_key);
        break;
    case IH_REG_OP_KEY_ROTATED:
        rc |= s_put_string (object, "site", change->site, IH_NAME_MAX + 1);
        rc |= s_put_key (object, "sign_key", change->sign_key);
        rc |= s_put_key (object, "curve_key", change->curve_key);
        if (change->from_seq > (uint64_t) INT64_MAX)
            rc = -1; //  no JSON integer for it
        else
            rc |= json_object_set_new (
                object, "from_seq",
                json_integer ((json_int_t) change->from_seq));
        break;
    case IH_REG_OP_KEY_REVOKED:
        rc |= s_put_string (object, "site", change->site, IH_NAME_MAX + 1);
        rc |=
            s_put_string (object, "reason", change->reason, IH_REG_REASON_MAX);
        break;
    case IH_REG_OP_PERMISSIONS: {
        rc |= s_put_string (object, "kind", change->kind, IH_REG_KIND_MAX);
        if (change->publish_count > IH_REG_PATTERNS_MAX) {
            rc = -1;
            break;
        }
        json_t *publish = json_array ();
        assert (publish);
        for (size_t i = 0; i < change->publish_count; i++) {
            const char *pattern = change->publish[i];
            json_t *item =
                json_stringn (pattern, strnlen (pattern, IH_NAME_MAX + 1));
            rc |= item ? json_array_append_new (publish, item) : -1;
        }
        rc |= json_object_set_new (object, "publish", publish);
        rc |= json_object_set_new (
            object, "read",
            json_string (ih_regchange_scope_name (change->read)));
        break;
    }
    default:
        rc = -1;
    }
    char *text =
        rc == 0 ? json_dumps (object, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref (object);
    return text;
}

//  --------------------------------------------------------------------------
//  Selftest

//  Packs JSON text into msgpack data; caller frees.
static uint8_t *
s_pack_text (const char *text, size_t *size_p)
{
    json_error_t error;
    json_t *json = json_loads (text, JSON_ALLOW_NUL, &error);
    if (!json)
        fprintf (stderr, "bad test JSON: %s: %s\n", text, error.text);
    ih_check (json);
    uint8_t *data = NULL;
    ih_check (ih_json_to_msgpack (json, &data, size_p) == IH_OK);
    json_decref (json);
    return data;
}

//  Signs an event of type with data packed from JSON text, decodes it as
//  the hub would, then decodes the change. Returns its result.
static ih_err_t
s_decode_text (ih_key_t *bureau, const char *type, const char *text,
               ih_regchange_t *change, char *why, size_t why_size)
{
    size_t data_size = 0;
    uint8_t *data = s_pack_text (text, &data_size);
    ih_event_t event;
    memset (&event, 0, sizeof (event));
    strcpy (event.site, ih_key_name (bureau));
    event.seq = 7;
    event.ts = ih_event_now ();
    ih_check (strlen (type) <= IH_NAME_MAX);
    strcpy (event.type, type);
    event.data = data;
    event.data_size = data_size;
    uint8_t *signed_event = NULL;
    size_t signed_size = 0;
    ih_check (ih_event_sign (&event, bureau, &signed_event, &signed_size) ==
              IH_OK);
    ih_event_t decoded;
    ih_check (ih_event_decode (signed_event, signed_size, &decoded) == IH_OK);
    ih_err_t rc = ih_regchange_decode (&decoded, change, why, why_size);
    free (signed_event);
    free (data);
    return rc;
}

static bool
s_change_equal (const ih_regchange_t *a, const ih_regchange_t *b)
{
    if (a->op != b->op || !streq (a->site, b->site) ||
        !streq (a->kind, b->kind) || !streq (a->district, b->district) ||
        memcmp (a->sign_key, b->sign_key, IH_KEY_PUBLIC_SIZE) ||
        memcmp (a->curve_key, b->curve_key, IH_KEY_CURVE_SIZE) ||
        a->from_seq != b->from_seq || !streq (a->reason, b->reason) ||
        a->publish_count != b->publish_count || a->read != b->read)
        return false;
    for (size_t i = 0; i < a->publish_count; i++)
        if (!streq (a->publish[i], b->publish[i]))
            return false;
    return true;
}

//  change -> JSON -> msgpack -> signed event -> decode == change
static void
s_round_trip (ih_key_t *bureau, const ih_regchange_t *change)
{
    char *text = ih_regchange_json (change);
    ih_check (text);
    ih_regchange_t decoded;
    char why[256];
    ih_err_t rc = s_decode_text (bureau, ih_regchange_type (change), text,
                                 &decoded, why, sizeof (why));
    if (rc)
        fprintf (stderr, "round trip of %s: %s\n", text, why);
    ih_check (rc == IH_OK);
    ih_check (s_change_equal (change, &decoded));
    //  The JSON is canonical: the same text again
    char *again = ih_regchange_json (&decoded);
    ih_check (again && streq (again, text));
    free (again);
    free (text);
}

#define S_HEX_A                                                                \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define S_HEX_B                                                                \
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static void
s_test_rejections (ih_key_t *bureau)
{
    char long_reason[IH_REG_REASON_MAX + 1];
    memset (long_reason, 'x', IH_REG_REASON_MAX);
    long_reason[IH_REG_REASON_MAX] = 0; //  one byte over
    char *reason_case =
        zsys_sprintf ("{\"site\":\"a\",\"reason\":\"%s\"}", long_reason);
    long_reason[IH_REG_REASON_MAX - 1] = 0; //  the longest allowed
    char *reason_ok =
        zsys_sprintf ("{\"site\":\"a\",\"reason\":\"%s\"}", long_reason);
    char long_name[IH_NAME_MAX + 2];
    memset (long_name, 'a', IH_NAME_MAX + 1);
    long_name[IH_NAME_MAX + 1] = 0;
    char *long_site = zsys_sprintf (
        "{\"site\":\"%s\",\"kind\":\"incubator\",\"district\":\"laoshan\","
        "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B "\"}",
        long_name);
    //  33 patterns, then 32
    char *many = strdup ("{\"kind\":\"incubator\",\"read\":\"own\","
                         "\"publish\":[\"a\"");
    for (int i = 1; i <= IH_REG_PATTERNS_MAX; i++) {
        char *more = zsys_sprintf ("%s,\"t%d\"", many, i);
        free (many);
        many = more;
    }
    char *too_many = zsys_sprintf ("%s]}", many);
    //  Without the last pattern (",\"t32\"") it is the longest allowed
    char *max_many = zsys_sprintf ("%s]}", many);
    char *cut = strstr (max_many, ",\"t32\"");
    ih_check (cut);
    memmove (cut, cut + 6, strlen (cut + 6) + 1);
    free (many);

    struct {
        const char *type;
        const char *text;
        const char *why; //  part of the reason
    } cases[] = {
        //  Types
        {"registry.site_renamed", "{}", "unknown registry change type"},
        {"enterprise.admitted", "{}", "not a registry event"},
        //  site_added
        {IH_REG_SITE_ADDED,
         "{\"kind\":\"incubator\",\"district\":\"laoshan\","
         "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B "\"}",
         "\"site\" is missing"},
        {IH_REG_SITE_ADDED,
         "{\"site\":5,\"kind\":\"incubator\",\"district\":\"laoshan\","
         "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B "\"}",
         "\"site\" is not a string"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"Bad Site\",\"kind\":\"incubator\",\"district\":"
         "\"laoshan\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\"}",
         "\"site\" is not a valid name"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"\",\"kind\":\"incubator\",\"district\":"
         "\"laoshan\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\"}",
         "\"site\" is not a valid name"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\\u0000b\",\"kind\":\"incubator\",\"district\":"
         "\"laoshan\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\"}",
         "NUL byte"},
        {IH_REG_SITE_ADDED, long_site, "longer than 64"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"spaceship\",\"district\":\"laoshan\","
         "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B "\"}",
         "not a site kind"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"incubator-incubator\",\"district\":"
         "\"laoshan\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\"}",
         "\"kind\" is longer"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"incubator\",\"district\":\"Lao Shan\","
         "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B "\"}",
         "\"district\" is not a valid name"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"incubator\",\"district\":\"laoshan\","
         "\"sign_key\":\"abcd\",\"curve_key\":\"" S_HEX_B "\"}",
         "\"sign_key\" is not 64 hex digits"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"incubator\",\"district\":\"laoshan\","
         "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B "00\"}",
         "\"curve_key\" is longer"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"incubator\",\"district\":\"laoshan\","
         "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":"
         "\"zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\""
         "}",
         "\"curve_key\" is not 64 hex digits"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"incubator\",\"district\":\"laoshan\","
         "\"sign_key\":\"" S_HEX_A "\"}",
         "\"curve_key\" is missing"},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"incubator\",\"district\":\"laoshan\","
         "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B "\","
         "\"admin\":true}",
         "unexpected field \"admin\""},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"incubator\",\"district\":\"laoshan\","
         "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B "\","
         "\"from_seq\":2}",
         "unexpected field \"from_seq\""},
        {IH_REG_SITE_ADDED,
         "{\"site\":\"a\",\"kind\":\"incubator\",\"district\":\"laoshan\","
         "\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B "\","
         "\"Bad Key\":1}",
         "unexpected field \"?\""},
        //  key_rotated
        {IH_REG_KEY_ROTATED,
         "{\"site\":\"a\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\"}",
         "\"from_seq\" is missing"},
        {IH_REG_KEY_ROTATED,
         "{\"site\":\"a\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\",\"from_seq\":1}",
         "at least 2"},
        {IH_REG_KEY_ROTATED,
         "{\"site\":\"a\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\",\"from_seq\":0}",
         "at least 2"},
        {IH_REG_KEY_ROTATED,
         "{\"site\":\"a\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\",\"from_seq\":-5}",
         "at least 2"},
        {IH_REG_KEY_ROTATED,
         "{\"site\":\"a\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\",\"from_seq\":\"5\"}",
         "not an integer"},
        {IH_REG_KEY_ROTATED,
         "{\"site\":\"a\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\",\"from_seq\":5.0}",
         "not an integer"},
        {IH_REG_KEY_ROTATED,
         "{\"site\":\"a\",\"sign_key\":\"" S_HEX_A "\",\"from_seq\":5}",
         "\"curve_key\" is missing"},
        {IH_REG_KEY_ROTATED,
         "{\"site\":\"a\",\"sign_key\":\"" S_HEX_A "\",\"curve_key\":\"" S_HEX_B
         "\",\"from_seq\":5,\"kind\":\"bureau\"}",
         "unexpected field \"kind\""},
        //  key_revoked
        {IH_REG_KEY_REVOKED, "{\"site\":\"a\"}", "\"reason\" is missing"},
        {IH_REG_KEY_REVOKED, "{\"reason\":\"lost\"}", "\"site\" is missing"},
        {IH_REG_KEY_REVOKED, "{\"site\":\"a\",\"reason\":null}",
         "\"reason\" is not a string"},
        {IH_REG_KEY_REVOKED, reason_case, "longer than 199"},
        {IH_REG_KEY_REVOKED, "{\"site\":\"a\",\"reason\":\"one\\ntwo\"}",
         "control character"},
        {IH_REG_KEY_REVOKED,
         "{\"site\":\"a\",\"reason\":\"x\",\"until\":\"never\"}",
         "unexpected field \"until\""},
        //  permissions_changed
        {IH_REG_PERMISSIONS, "{\"publish\":[],\"read\":\"own\"}",
         "\"kind\" is missing"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"pirate\",\"publish\":[],"
         "\"read\":\"own\"}",
         "not a site kind"},
        {IH_REG_PERMISSIONS, "{\"kind\":\"incubator\",\"read\":\"own\"}",
         "\"publish\" is missing"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":\"*\","
         "\"read\":\"own\"}",
         "\"publish\" is not an array"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":[1],"
         "\"read\":\"own\"}",
         "pattern 1 is not"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":[\"a\",\"enterprise*\"],"
         "\"read\":\"own\"}",
         "pattern 2 is not"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":[\"*.admitted\"],"
         "\"read\":\"own\"}",
         "pattern 1 is not"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":[\".*\"],"
         "\"read\":\"own\"}",
         "pattern 1 is not"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":[\"\"],"
         "\"read\":\"own\"}",
         "pattern 1 is not"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":[[\"a\"]],"
         "\"read\":\"own\"}",
         "pattern 1 is not"},
        {IH_REG_PERMISSIONS, too_many, "more than 32 patterns"},
        {IH_REG_PERMISSIONS, "{\"kind\":\"incubator\",\"publish\":[]}",
         "\"read\" is missing"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":[],"
         "\"read\":\"everything\"}",
         "not a scope"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":[],"
         "\"read\":3}",
         "\"read\" is not a string"},
        {IH_REG_PERMISSIONS,
         "{\"kind\":\"incubator\",\"publish\":[],"
         "\"read\":\"all\",\"site\":\"a\"}",
         "unexpected field \"site\""},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        ih_regchange_t change;
        char why[256];
        ih_err_t rc = s_decode_text (bureau, cases[i].type, cases[i].text,
                                     &change, why, sizeof (why));
        if (rc != IH_E_REGISTRY || !strstr (why, cases[i].why))
            fprintf (stderr, "case %zu %s %s: got %s \"%s\"\n", i,
                     cases[i].type, cases[i].text, ih_err_name (rc), why);
        ih_check (rc == IH_E_REGISTRY);
        ih_check (strstr (why, cases[i].why));
    }
    //  The limits themselves are fine
    ih_regchange_t change;
    char why[256];
    ih_check (s_decode_text (bureau, IH_REG_KEY_REVOKED, reason_ok, &change,
                             why, sizeof (why)) == IH_OK);
    ih_check (strlen (change.reason) == IH_REG_REASON_MAX - 1);
    ih_check (s_decode_text (bureau, IH_REG_PERMISSIONS, max_many, &change, why,
                             sizeof (why)) == IH_OK);
    ih_check (change.publish_count == IH_REG_PATTERNS_MAX);
    ih_check (streq (change.publish[0], "a"));
    ih_check (streq (change.publish[31], "t31"));
    //  A short reason buffer still gets a terminated reason; none is fine
    char tiny[8];
    ih_check (s_decode_text (bureau, IH_REG_PERMISSIONS, too_many, &change,
                             tiny, sizeof (tiny)) == IH_E_REGISTRY);
    ih_check (strlen (tiny) == sizeof (tiny) - 1);
    ih_check (s_decode_text (bureau, IH_REG_PERMISSIONS, too_many, &change,
                             NULL, 0) == IH_E_REGISTRY);
    free (long_site);
    free (reason_case);
    free (reason_ok);
    free (too_many);
    free (max_many);

    //  Data that is no map, or no msgpack at all
    ih_event_t event;
    memset (&event, 0, sizeof (event));
    strcpy (event.site, "qd-bureau");
    strcpy (event.type, IH_REG_KEY_REVOKED);
    const uint8_t array[] = {0x91, 0x01};     //  [1]
    const uint8_t truncated[] = {0x82, 0xa1}; //  a map cut short
    const uint8_t trailing[] = {0x80, 0x80};  //  {} then {}
    const uint8_t repeated[] = {0x82, 0xa1, 's', 0x01, 0xa1, 's', 0x02};
    const uint8_t int_key[] = {0x81, 0x01, 0x01};
    struct {
        const uint8_t *data;
        size_t size;
        const char *why;
    } raw[] = {
        {NULL, 0, "no data"},
        {array, sizeof (array), "data is not a map"},
        {truncated, sizeof (truncated), "IH_E_MALFORMED"},
        {trailing, sizeof (trailing), "IH_E_TRAILING"},
        {repeated, sizeof (repeated), "IH_E_MALFORMED"},
        {int_key, sizeof (int_key), "IH_E_TYPE"},
    };
    for (size_t i = 0; i < sizeof (raw) / sizeof (raw[0]); i++) {
        event.data = raw[i].data;
        event.data_size = raw[i].size;
        ih_check (ih_regchange_decode (&event, &change, why, sizeof (why)) ==
                  IH_E_REGISTRY);
        if (!strstr (why, raw[i].why))
            fprintf (stderr, "raw case %zu: \"%s\"\n", i, why);
        ih_check (strstr (why, raw[i].why));
    }
}

static void
s_test_patterns (void)
{
    ih_check (ih_regchange_pattern_valid ("*"));
    ih_check (ih_regchange_pattern_valid ("enterprise.*"));
    ih_check (ih_regchange_pattern_valid ("enterprise.admitted"));
    ih_check (ih_regchange_pattern_valid ("a.*"));
    ih_check (!ih_regchange_pattern_valid (NULL));
    ih_check (!ih_regchange_pattern_valid (""));
    ih_check (!ih_regchange_pattern_valid (".*"));
    ih_check (!ih_regchange_pattern_valid ("**"));
    ih_check (!ih_regchange_pattern_valid ("enterprise*"));
    ih_check (!ih_regchange_pattern_valid ("enterprise.*.x"));
    ih_check (!ih_regchange_pattern_valid ("*.admitted"));
    ih_check (!ih_regchange_pattern_valid ("Enterprise.*"));
    ih_check (!ih_regchange_pattern_valid ("enterprise.**"));
    char name[IH_NAME_MAX + 2];
    memset (name, 'a', sizeof (name));
    name[IH_NAME_MAX] = 0;
    ih_check (ih_regchange_pattern_valid (name)); //  64 bytes
    memcpy (name + IH_NAME_MAX - 2, ".*", 3);
    ih_check (ih_regchange_pattern_valid (name)); //  62 + ".*"
    name[IH_NAME_MAX] = 'a';
    name[IH_NAME_MAX + 1] = 0;
    ih_check (!ih_regchange_pattern_valid (name)); //  65 bytes

    ih_check (ih_regchange_pattern_match ("*", "enterprise.admitted"));
    ih_check (ih_regchange_pattern_match ("*", "x"));
    ih_check (
        ih_regchange_pattern_match ("enterprise.*", "enterprise.admitted"));
    ih_check (ih_regchange_pattern_match ("enterprise.*", "enterprise.a.b"));
    ih_check (!ih_regchange_pattern_match ("enterprise.*", "enterprises.x"));
    ih_check (!ih_regchange_pattern_match ("enterprise.*", "enterprise"));
    ih_check (!ih_regchange_pattern_match ("enterprise.*", "enterprise."));
    ih_check (!ih_regchange_pattern_match ("enterprise.*", "training.held"));
    ih_check (!ih_regchange_pattern_match ("enterprise.*", "xenterprise.a"));
    ih_check (ih_regchange_pattern_match ("training.held", "training.held"));
    ih_check (!ih_regchange_pattern_match ("training.held", "training.helds"));
    ih_check (!ih_regchange_pattern_match ("training.held", "training.hel"));
    ih_check (!ih_regchange_pattern_match ("training.held", "training.*"));
    ih_check (!ih_regchange_pattern_match (NULL, "a"));
    ih_check (!ih_regchange_pattern_match ("*", NULL));
}

void
ih_regchange_test (bool verbose)
{
    if (verbose)
        printf (" * ih_regchange: ");

    //  Names and scopes
    ih_check (ih_regchange_is_registry (IH_REG_SITE_ADDED));
    ih_check (ih_regchange_is_registry ("registry.anything"));
    ih_check (!ih_regchange_is_registry ("registryx.site_added"));
    ih_check (!ih_regchange_is_registry ("enterprise.admitted"));
    ih_check (!ih_regchange_is_registry (NULL));
    const char *kinds[] = {"bureau",   "district", "incubator",
                           "offshore", "remote",   "auditor"};
    for (size_t i = 0; i < 6; i++) {
        ih_check (ih_regchange_kind_valid (kinds[i]));
        ih_check (strlen (kinds[i]) < IH_REG_KIND_MAX);
    }
    ih_check (!ih_regchange_kind_valid ("Bureau"));
    ih_check (!ih_regchange_kind_valid (""));
    ih_check (!ih_regchange_kind_valid (NULL));
    ih_read_scope_t scope = IH_READ_NONE;
    ih_check (ih_regchange_scope_parse ("all", &scope) && scope == IH_READ_ALL);
    ih_check (ih_regchange_scope_parse ("district", &scope) &&
              scope == IH_READ_DISTRICT);
    ih_check (ih_regchange_scope_parse ("own", &scope) && scope == IH_READ_OWN);
    ih_check (ih_regchange_scope_parse ("none", &scope) &&
              scope == IH_READ_NONE);
    ih_check (!ih_regchange_scope_parse ("All", &scope));
    ih_check (!ih_regchange_scope_parse (NULL, &scope));
    for (int s = IH_READ_NONE; s <= IH_READ_ALL; s++) {
        ih_check (ih_regchange_scope_parse (
                      ih_regchange_scope_name ((ih_read_scope_t) s), &scope) &&
                  (int) scope == s);
    }
    ih_check (streq (ih_regchange_scope_name ((ih_read_scope_t) 9), "unknown"));
    s_test_patterns ();

    //  Every change round-trips through a signed event
    ih_key_t *bureau = ih_key_new ("qd-bureau");
    ih_key_t *site = ih_key_new ("lh-inc-01");
    ih_check (bureau && site);
    ih_regchange_t change;
    memset (&change, 0, sizeof (change));
    change.op = IH_REG_OP_SITE_ADDED;
    strcpy (change.site, "lh-inc-01");
    strcpy (change.kind, "incubator");
    strcpy (change.district, "laoshan");
    memcpy (change.sign_key, ih_key_public (site), IH_KEY_PUBLIC_SIZE);
    memcpy (change.curve_key, ih_key_curve_public (site), IH_KEY_CURVE_SIZE);
    ih_check (streq (ih_regchange_type (&change), IH_REG_SITE_ADDED));
    s_round_trip (bureau, &change);

    memset (&change, 0, sizeof (change));
    change.op = IH_REG_OP_KEY_ROTATED;
    strcpy (change.site, "lh-inc-01");
    memcpy (change.sign_key, ih_key_public (bureau), IH_KEY_PUBLIC_SIZE);
    memcpy (change.curve_key, ih_key_curve_public (bureau), IH_KEY_CURVE_SIZE);
    change.from_seq = 2;
    ih_check (streq (ih_regchange_type (&change), IH_REG_KEY_ROTATED));
    s_round_trip (bureau, &change);
    change.from_seq = (uint64_t) INT64_MAX;
    s_round_trip (bureau, &change);
    change.from_seq = (uint64_t) INT64_MAX + 1;
    ih_check (ih_regchange_json (&change) == NULL);

    memset (&change, 0, sizeof (change));
    change.op = IH_REG_OP_KEY_REVOKED;
    strcpy (change.site, "lh-inc-01");
    strcpy (change.reason, "laptop stolen 2024-05-01 \"urgent\" \xc3\xa9");
    ih_check (streq (ih_regchange_type (&change), IH_REG_KEY_REVOKED));
    s_round_trip (bureau, &change);
    change.reason[0] = 0; //  no reason
    s_round_trip (bureau, &change);
    strcpy (change.reason, "\xff"); //  not UTF-8: no JSON for it
    ih_check (ih_regchange_json (&change) == NULL);

    memset (&change, 0, sizeof (change));
    change.op = IH_REG_OP_PERMISSIONS;
    strcpy (change.kind, "incubator");
    strcpy (change.publish[0], "enterprise.*");
    strcpy (change.publish[1], "training.held");
    change.publish_count = 2;
    change.read = IH_READ_DISTRICT;
    ih_check (streq (ih_regchange_type (&change), IH_REG_PERMISSIONS));
    s_round_trip (bureau, &change);
    change.publish_count = 0; //  may publish nothing
    change.read = IH_READ_NONE;
    s_round_trip (bureau, &change);
    strcpy (change.kind, "auditor");
    strcpy (change.publish[0], "*");
    change.publish_count = 1;
    change.read = IH_READ_ALL;
    s_round_trip (bureau, &change);
    change.publish_count = IH_REG_PATTERNS_MAX + 1;
    ih_check (ih_regchange_json (&change) == NULL);
    change.op = (ih_regop_t) 42;
    ih_check (ih_regchange_type (&change) == NULL);
    ih_check (ih_regchange_json (&change) == NULL);

    //  The JSON text is compact with sorted keys
    memset (&change, 0, sizeof (change));
    change.op = IH_REG_OP_KEY_REVOKED;
    strcpy (change.site, "a");
    strcpy (change.reason, "lost");
    char *text = ih_regchange_json (&change);
    ih_check (text && streq (text, "{\"reason\":\"lost\",\"site\":\"a\"}"));
    free (text);

    s_test_rejections (bureau);
    ih_key_destroy (&site);
    ih_key_destroy (&bureau);
    if (verbose)
        printf ("OK\n");
}
