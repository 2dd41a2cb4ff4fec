<?php

declare(strict_types=1);

require __DIR__ . '/../vendor/autoload.php';

use Acme\Guestbook\Entries;

foreach (Entries::latest() as $entry) {
    echo '<p>' . htmlspecialchars($entry) . '</p>';
}
