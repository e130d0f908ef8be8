fn main() {
    println!("hvharness");
}
