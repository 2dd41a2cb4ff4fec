<?php

declare(strict_types=1);

namespace Acme\Guestbook;

final class Entries
{
    /** @return list<string> */
    public static function latest(): array
    {
        $db = new \mysqli(getenv('DB_HOST') ?: 'db', getenv('DB_USER') ?: 'guestbook', getenv('DB_PASSWORD') ?: '', 'guestbook');
        $rows = $db->query('SELECT body FROM entries ORDER BY id DESC LIMIT 20');
        return array_column($rows->fetch_all(MYSQLI_ASSOC), 'body');
    }
}
