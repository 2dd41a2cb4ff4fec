import os

import requests
from bs4 import BeautifulSoup

url = os.environ.get("SCRAPE_URL", "https://example.com")
page = requests.get(url, timeout=10)
titles = [h.get_text(strip=True) for h in BeautifulSoup(page.text, "html.parser").find_all("h1")]
print("\n".join(titles))
