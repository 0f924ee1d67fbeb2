/*  =========================================================================
    ih_msgpack - bounded msgpack validation, private to proto/

    The structural walker that guards msgpack-c (see ih_msgpack.h). It knows
    every msgpack format byte and nothing else: no types beyond "container
    or not", no semantics. Recursion depth is bounded by max_depth, so a
    hostile input cannot exhaust the stack.
    =========================================================================*/
#include "ih_msgpack.h"
#include "ih_event.h"

//  Reads a big-endian unsigned integer of width bytes at bytes[*pos].
static int
s_read_be (const uint8_t *bytes, size_t size, size_t *pos, size_t width,
           uint64_t *value)
{
    if (size - *pos < width)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v = (v << 8) | bytes[*pos + i];
    *pos += width;
    *value = v;
    return 0;
}

//  Skips n bytes of payload at *pos.
static int
s_skip (size_t size, size_t *pos, uint64_t n)
{
    if (n > size - *pos)
        return -1;
    *pos += (size_t) n;
    return 0;
}

static ih_err_t
s_walk (const uint8_t *bytes, size_t size, size_t *pos, int depth,
        int max_depth)
{
    if (*pos >= size)
        return IH_E_MALFORMED;
    uint8_t b = bytes[(*pos)++];
    uint64_t n = 0;    //  element count for containers
    uint64_t skip = 0; //  payload bytes for scalars
    bool is_map = false;
    bool is_container = false;

    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return IH_OK; //  fixint, nil, bool: the format byte is the value
    if (b >= 0x80 && b <= 0x8f) {
        n = b & 0x0f;
        is_map = is_container = true;
    } else if (b >= 0x90 && b <= 0x9f) {
        n = b & 0x0f;
        is_container = true;
    } else if (b >= 0xa0 && b <= 0xbf)
        skip = b & 0x1f;
    else {
        //  Formats 0xc4..0xdf: width of the length field and what follows
        int rc = 0;
        switch (b) {
        case 0xc4:
        case 0xd9:
            rc = s_read_be (bytes, size, pos, 1, &skip);
            break;
        case 0xc5:
        case 0xda:
            rc = s_read_be (bytes, size, pos, 2, &skip);
            break;
        case 0xc6:
        case 0xdb:
            rc = s_read_be (bytes, size, pos, 4, &skip);
            break;
        case 0xc7:
            rc = s_read_be (bytes, size, pos, 1, &skip);
            skip++;
            break;
        case 0xc8:
            rc = s_read_be (bytes, size, pos, 2, &skip);
            skip++;
            break;
        case 0xc9:
            rc = s_read_be (bytes, size, pos, 4, &skip);
            skip++;
            break;
        case 0xca:
            skip = 4;
            break;
        case 0xcb:
            skip = 8;
            break;
        case 0xcc:
        case 0xd0:
            skip = 1;
            break;
        case 0xcd:
        case 0xd1:
            skip = 2;
            break;
        case 0xce:
        case 0xd2:
            skip = 4;
            break;
        case 0xcf:
        case 0xd3:
            skip = 8;
            break;
        case 0xd4:
            skip = 2;
            break;
        case 0xd5:
            skip = 3;
            break;
        case 0xd6:
            skip = 5;
            break;
        case 0xd7:
            skip = 9;
            break;
        case 0xd8:
            skip = 17;
            break;
        case 0xdc:
            rc = s_read_be (bytes, size, pos, 2, &n);
            is_container = true;
            break;
        case 0xdd:
            rc = s_read_be (bytes, size, pos, 4, &n);
            is_container = true;
            break;
        case 0xde:
            rc = s_read_be (bytes, size, pos, 2, &n);
            is_container = is_map = true;
            break;
        case 0xdf:
            rc = s_read_be (bytes, size, pos, 4, &n);
            is_container = is_map = true;
            break;
        default:
            return IH_E_MALFORMED; //  0xc1 is never used
        }
        if (rc)
            return IH_E_MALFORMED;
    }
    if (!is_container)
        return s_skip (size, pos, skip) ? IH_E_MALFORMED : IH_OK;

    if (depth + 1 > max_depth)
        return IH_E_TOOBIG;
    if (is_map)
        n *= 2; //  n < 2^32, cannot overflow
    //  Every element takes at least one byte: a count larger than what is
    //  left is a lie, and refusing it here is what keeps msgpack-c from
    //  allocating for it.
    if (n > size - *pos)
        return IH_E_MALFORMED;
    for (uint64_t i = 0; i < n; i++) {
        ih_err_t rc = s_walk (bytes, size, pos, depth + 1, max_depth);
        if (rc)
            return rc;
    }
    return IH_OK;
}

ih_err_t
ih_msgpack_check (const uint8_t *bytes, size_t size, int max_depth,
                  size_t *used_p)
{
    size_t pos = 0;
    if (!bytes)
        return IH_E_MALFORMED;
    ih_err_t rc = s_walk (bytes, size, &pos, 0, max_depth);
    if (rc == IH_OK && used_p)
        *used_p = pos;
    return rc;
}

bool
ih_msgpack_is_map (const uint8_t *bytes, size_t size)
{
    return size >= 1 && ((bytes[0] >= 0x80 && bytes[0] <= 0x8f) ||
                         bytes[0] == 0xde || bytes[0] == 0xdf);
}

ih_err_t
ih_msgpack_array_header (const uint8_t *bytes, size_t size, uint32_t *count_p,
                         size_t *header_p)
{
    if (size < 1)
        return IH_E_MALFORMED;
    size_t pos = 1;
    uint64_t n;
    if (bytes[0] >= 0x90 && bytes[0] <= 0x9f)
        n = bytes[0] & 0x0f;
    else if (bytes[0] == 0xdc) {
        if (s_read_be (bytes, size, &pos, 2, &n))
            return IH_E_MALFORMED;
    } else if (bytes[0] == 0xdd) {
        if (s_read_be (bytes, size, &pos, 4, &n))
            return IH_E_MALFORMED;
    } else
        return IH_E_MALFORMED;
    *count_p = (uint32_t) n;
    *header_p = pos;
    return IH_OK;
}

ih_err_t
ih_msgpack_fields (const uint8_t *bytes, size_t size, int max_depth,
                   uint32_t *count_p, size_t *off_p)
{
    size_t used = 0;
    ih_err_t rc = ih_msgpack_check (bytes, size, max_depth, &used);
    if (rc)
        return rc;
    if (used != size)
        return IH_E_TRAILING;
    if (ih_msgpack_array_header (bytes, size, count_p, off_p))
        return IH_E_MALFORMED;
    return *count_p == 0 ? IH_E_MISSING : IH_OK;
}

ih_err_t
ih_msgpack_version (const msgpack_object *o, uint64_t version, uint32_t count,
                    uint32_t fields)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return IH_E_TYPE;
    if (o->via.u64 != version)
        return IH_E_VERSION;
    if (count < fields)
        return IH_E_MISSING;
    if (count > fields)
        return IH_E_TRAILING;
    return IH_OK;
}

int
ih_msgpack_next (msgpack_unpacked *u, const uint8_t *bytes, size_t size,
                 size_t *off)
{
    msgpack_unpack_return ret =
        msgpack_unpack_next (u, (const char *) bytes, size, off);
    return (ret == MSGPACK_UNPACK_SUCCESS || ret == MSGPACK_UNPACK_EXTRA_BYTES)
               ? 0
               : -1;
}

ih_err_t
ih_msgpack_uint (const msgpack_object *o, uint64_t *value_p)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return IH_E_TYPE;
    *value_p = o->via.u64;
    return IH_OK;
}

ih_err_t
ih_msgpack_hash (const msgpack_object *o, uint8_t *hash)
{
    if (o->type != MSGPACK_OBJECT_BIN)
        return IH_E_TYPE;
    if (o->via.bin.size != IH_HASH_SIZE)
        return IH_E_MALFORMED;
    memcpy (hash, o->via.bin.ptr, IH_HASH_SIZE);
    return IH_OK;
}

ih_err_t
ih_msgpack_name (const msgpack_object *o, char *out)
{
    out[0] = 0;
    if (o->type != MSGPACK_OBJECT_STR)
        return IH_E_TYPE;
    return ih_msgpack_name_copy (o->via.str.ptr, o->via.str.size, out);
}

ih_err_t
ih_msgpack_name_copy (const char *ptr, size_t size, char *out)
{
    out[0] = 0;
    if (size > IH_NAME_MAX)
        return IH_E_TOOBIG;
    if (size)
        memcpy (out, ptr, size); //  ptr may be NULL when size is 0
    out[size] = 0;
    //  An embedded NUL makes strnlen shorter than size: also invalid
    if (strnlen (out, IH_NAME_MAX + 1) != size || !ih_event_name_valid (out))
        return IH_E_BADNAME;
    return IH_OK;
}
