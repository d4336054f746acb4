/*
 * A hash map from 64-bit ids (user, conversation) to pointers, with open
 * addressing and linear probing. Values must not be NULL, because NULL marks
 * an empty slot. The map never owns its values.
 */
#ifndef PUSHD_IDMAP_H
#define PUSHD_IDMAP_H

#include <stddef.h>

struct idmap_slot {
    long long key;
    void *value; /* NULL: empty slot */
};

struct idmap {
    struct idmap_slot *slots;
    size_t capacity; /* 0 or a power of two */
    size_t count;
};

/* Returns the value stored under key, or NULL. */
void *idmap_get(const struct idmap *map, long long key);

/* Stores value under key, replacing any previous value. Returns 0, or -1
 * when out of memory (the map is then unchanged). */
int idmap_put(struct idmap *map, long long key, void *value);

/* Removes key and returns its value, or NULL when it was absent. */
void *idmap_remove(struct idmap *map, long long key);

/* Frees the slot array; the values are the caller's. */
void idmap_free(struct idmap *map);

/* Iterate with: for (size_t i = 0; i < map->capacity; i++) if
 * (map->slots[i].value) ...; the map must not change during the loop. */

#endif
