export default function Home() {
  return (
    <main>
      <h1>Storefront</h1>
      <p>Fresh coffee, roasted weekly.</p>
    </main>
  );
}
