/*
 * Open-addressing hash map keyed by id. Deletion shifts the following
 * entries of the probe run back, so there are no tombstones and lookups
 * stay short after many removals.
 */
#include "idmap.h"

#include <stdint.h>
#include <stdlib.h>

/* Grows when more than 3/4 of the slots are in use. */
#define LOAD_NUMERATOR 3
#define LOAD_DENOMINATOR 4
#define MIN_CAPACITY 16

static size_t slot_of(long long key, size_t capacity)
{
    /* Fibonacci hashing spreads sequential ids over the table. */
    uint64_t h = (uint64_t)key * UINT64_C(0x9E3779B97F4A7C15);

    return (size_t)(h >> 32) & (capacity - 1);
}

void *idmap_get(const struct idmap *map, long long key)
{
    if (map->capacity == 0)
        return NULL;
    for (size_t i = slot_of(key, map->capacity);; i = (i + 1) & (map->capacity - 1)) {
        if (map->slots[i].value == NULL)
            return NULL;
        if (map->slots[i].key == key)
            return map->slots[i].value;
    }
}

static void insert_slot(struct idmap_slot *slots, size_t capacity,
                        long long key, void *value)
{
    size_t i = slot_of(key, capacity);

    while (slots[i].value != NULL && slots[i].key != key)
        i = (i + 1) & (capacity - 1);
    slots[i].key = key;
    slots[i].value = value;
}

static int grow(struct idmap *map)
{
    size_t capacity = map->capacity ? map->capacity * 2 : MIN_CAPACITY;
    struct idmap_slot *slots = calloc(capacity, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->slots[i].value != NULL)
            insert_slot(slots, capacity, map->slots[i].key, map->slots[i].value);
    }
    free(map->slots);
    map->slots = slots;
    map->capacity = capacity;
    return 0;
}

int idmap_put(struct idmap *map, long long key, void *value)
{
    if ((map->count + 1) * LOAD_DENOMINATOR > map->capacity * LOAD_NUMERATOR &&
        grow(map) != 0)
        return -1;
    if (idmap_get(map, key) == NULL)
        map->count++;
    insert_slot(map->slots, map->capacity, key, value);
    return 0;
}

void *idmap_remove(struct idmap *map, long long key)
{
    size_t mask = map->capacity - 1;
    size_t i, j;
    void *value;

    if (map->capacity == 0)
        return NULL;
    i = slot_of(key, map->capacity);
    while (map->slots[i].value != NULL && map->slots[i].key != key)
        i = (i + 1) & mask;
    value = map->slots[i].value;
    if (value == NULL)
        return NULL;

    /* Move back every later entry of the run whose home slot does not lie
     * between the hole and its current slot, so lookups still find it. */
    j = i;
    for (;;) {
        size_t home;

        j = (j + 1) & mask;
        if (map->slots[j].value == NULL)
            break;
        home = slot_of(map->slots[j].key, map->capacity);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            map->slots[i] = map->slots[j];
            i = j;
        }
    }
    map->slots[i].value = NULL;
    map->count--;
    return value;
}

void idmap_free(struct idmap *map)
{
    free(map->slots);
    map->slots = NULL;
    map->capacity = 0;
    map->count = 0;
}
