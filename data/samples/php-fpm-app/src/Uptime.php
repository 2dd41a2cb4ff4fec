<?php

declare(strict_types=1);

namespace Acme\StatusPage;

final class Uptime
{
    /** Uptime as a percentage with two decimals, computed exactly. */
    public static function percent(int $up, int $total): string
    {
        return bcmul(bcdiv((string) $up, (string) $total, 6), '100', 2);
    }
}
