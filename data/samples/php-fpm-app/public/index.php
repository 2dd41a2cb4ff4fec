<?php

declare(strict_types=1);

require __DIR__ . '/../vendor/autoload.php';

use Acme\StatusPage\Uptime;

header('Content-Type: application/json');
echo json_encode(['status' => 'ok', 'uptime' => Uptime::percent(43190, 43200)]);
