"""A world in words, for reports: what each benchmark world looks like (room, clutter, surfaces, light).

:func:`describe_arena` reads only the arena's values (through the thresholds of
:mod:`selfsup_perception.sim.appearance`), so it describes hand-made arenas as truthfully as generated ones.
"""

from __future__ import annotations

import numpy as np

from selfsup_perception.sim import appearance
from selfsup_perception.sim.photos import is_photo
from selfsup_perception.sim.seeds import range_of
from selfsup_perception.sim.world import Arena, Surface

Description = dict[str, str | int | float | bool]


def surface_colour_name(surface: Surface, family: str) -> str:
    """'photo' for a photograph, else 'grey' or the hue name of the surface's base colour."""
    if is_photo(surface.kind):
        return 'photo'
    colour = surface.colour
    if colour is None:
        # Drawn from the texture seed first, as make_texture does.
        colour = appearance.surface_colour(np.random.default_rng(surface.texture_seed), family, surface.kind)
    return appearance.colour_name(colour)


def describe_arena(arena: Arena) -> Description:
    """Flat {key: value} description of ``arena`` (one benchmark-table row); keys in a fixed order."""
    seeds = range_of(arena.seed)
    own = [o for o in arena.obstacles if o.look == 'own']
    tinted = [light.colour for light in arena.lights if appearance.is_coloured_light(light.colour)]
    surfaces = [arena.floor, arena.wall, *(o.surface for o in own)]
    return {
        'seed': arena.seed,
        'seed_range': seeds.name if seeds else 'other',
        'room': appearance.room_class(arena.size),
        'room_size': round(arena.size, 2),
        'clutter': appearance.clutter_level(len(arena.obstacles), arena.size),
        'obstacles': len(arena.obstacles),
        'floor': arena.floor.kind,
        'floor_colour': surface_colour_name(arena.floor, 'floor'),
        'wall': arena.wall.kind,
        'wall_colour': surface_colour_name(arena.wall, 'wall'),
        'obstacle_kinds': ' '.join(sorted({o.surface.kind for o in own})),
        'obstacle_colours': ' '.join(sorted({surface_colour_name(o.surface, 'obstacle') for o in own})),
        'like_wall': sum(o.look == 'wall' for o in arena.obstacles),
        'like_floor': sum(o.look == 'floor' for o in arena.obstacles),
        'light': appearance.light_level(arena.ambient, [light.intensity for light in arena.lights]),
        'light_colour': appearance.colour_name(tinted[0]) if tinted else 'white',
        'photographic': any(is_photo(surface.kind) for surface in surfaces),
    }
